-- Schema version 2: every move of a head is announced on the channel
-- comity_appended_<schema>, with the payload "<origin> <seq>", when its
-- transaction commits. Other replicas LISTEN there to wake their live
-- tails at once (they also poll the heads, in case a notification is lost).
CREATE FUNCTION comity_notify_head() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('comity_appended_' || current_schema(), NEW.origin || ' ' || NEW.seq);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER heads_notify
    AFTER INSERT OR UPDATE OF seq ON heads
    FOR EACH ROW EXECUTE FUNCTION comity_notify_head();
