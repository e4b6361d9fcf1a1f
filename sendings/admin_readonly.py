class ReadOnlyAdminMixin:
    """Rows the admin may look at but never add, change or delete: only services write them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
