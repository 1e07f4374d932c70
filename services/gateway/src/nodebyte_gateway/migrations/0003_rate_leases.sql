-- Replicas lease tokens from the shared buckets in chunks (one round trip per
-- chunk instead of per request). Each bucket is refilled, then gives at most
-- `wants` whole tokens; a bucket never lends what it does not hold, so the
-- limit holds however many replicas lease from it.
CREATE FUNCTION lease_tokens(keys text[], caps float8[], wants float8[], per_seconds float8)
RETURNS TABLE (bucket_key text, left_tokens float8, granted_tokens float8)
LANGUAGE plpgsql AS $$
DECLARE
    i int;
    have float8;
BEGIN
    FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
        INSERT INTO rate_buckets AS b (key, tokens, updated_at)
        VALUES (keys[i], caps[i], now())
        ON CONFLICT (key) DO UPDATE SET
            tokens = LEAST(caps[i], b.tokens
                + extract(epoch FROM now() - b.updated_at) * caps[i] / per_seconds),
            updated_at = now()
        RETURNING b.tokens INTO have;
        bucket_key := keys[i];
        granted_tokens := LEAST(wants[i], GREATEST(0, floor(have)));
        left_tokens := have - granted_tokens;
        UPDATE rate_buckets SET tokens = left_tokens WHERE key = keys[i];
        RETURN NEXT;
    END LOOP;
END $$;
