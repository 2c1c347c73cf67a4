"""What we hold about one customer: search, timeline, export, erasure (GDPR/RODO).

The console's customers page and ``notifier customers ...`` both call these functions.
"""

from notifier.privacy.customers import Identity, TimelineEntry, identity, search, timeline
from notifier.privacy.erase import ErasureError, ErasureReport, erase_customer
from notifier.privacy.export import export_audited, export_customer

__all__ = ["ErasureError", "ErasureReport", "Identity", "TimelineEntry", "erase_customer",
           "export_audited", "export_customer", "identity", "search", "timeline"]
