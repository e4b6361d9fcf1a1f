from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("batches", "0008_recipient_no_db_foreign_keys"),
    ]

    operations = [
        migrations.AddIndex(
            model_name='recipient',
            index=models.Index(condition=models.Q(('claimed_at__isnull', False), ('status', 'pending')), fields=['claimed_at', 'batch'], name='recipient_claim_age_idx'),
        ),
    ]
