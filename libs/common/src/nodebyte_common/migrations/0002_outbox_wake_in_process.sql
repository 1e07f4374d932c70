-- Relays are now woken in-process by `enqueue` and otherwise poll (outbox.py).
-- NOTIFY took a global lock at every commit of a writing transaction, which
-- serialised the commits and halved the rate a service could commit events.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
