"""The `sendings` app's admin, one module per concern; importing them registers them."""

from sendings.admin import contacts, sendings, tenancy

__all__ = ["contacts", "sendings", "tenancy"]
