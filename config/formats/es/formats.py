"""Spanish formats (FORMAT_MODULE_PATH): "1 dic 2026, 10:00", "1.187".

Django's own Spanish formats write "1 de diciembre de 2026 a las 10:00" and group thousands
with a space; the product writes short dates and groups with a dot, as its marketers do.
"""

DATE_FORMAT = "j b Y"
DATETIME_FORMAT = r"l j \d\e F \d\e Y, H:i T"
SHORT_DATE_FORMAT = "j b Y"
SHORT_DATETIME_FORMAT = "j b Y, H:i"
TIME_FORMAT = "H:i"
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
NUMBER_GROUPING = 3
