"""One egress policy for every outbound URL a user chooses (panel, webhook, alert-rule URLs).

A connection may only reach a globally routable address, unless the operator
allowed its host explicitly (`PANEL_ALLOWED_HOSTS`, `WEBHOOK_ALLOWED_HOSTS`).
DNS is resolved once per connection and the connection goes to the address that
was checked (Host and SNI keep the name), so an answer that changes between
check and connect cannot slip through. Redirects are never followed, and a
failure is told as a category, never with what the far end answered.

- `addresses`: which addresses are public, and the operator's allow-list;
- `policy`: the URL and address checks (`EgressPolicy`, `EgressRefused`);
- `httpx_transport`: an httpx client whose connections obey a policy;
- `aiohttp_resolver`: an aiohttp resolver that obeys a policy;
- `failures`: the category of a failed call.
"""

from nodebyte_common.egress.addresses import AllowedHosts, is_public
from nodebyte_common.egress.failures import category_of
from nodebyte_common.egress.policy import EgressPolicy, EgressRefused

__all__ = ["AllowedHosts", "EgressPolicy", "EgressRefused", "category_of", "is_public"]
