-- Tenancy: a key may be bound to an org (and to team, project, user, agent
-- tags). Keys stored before carry '' and '{}', and a key whose default tags
-- name an org is read as bound to it, so they become safe without a rewrite.
ALTER TABLE api_keys ADD COLUMN org_id String DEFAULT '';
ALTER TABLE api_keys ADD COLUMN bound_tags String DEFAULT '{}';
