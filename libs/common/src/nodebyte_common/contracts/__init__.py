"""Bodies of the public API that an owning service answers and the gateway relays.

Each module is one resource's contract: the request bodies both sides validate
and the answers both sides encode and decode, so the gateway's OpenAPI document
describes what the owner really sends.
"""
