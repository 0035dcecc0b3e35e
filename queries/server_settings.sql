-- server_settings: settings changed in the configuration files (or with ALTER SYSTEM) and
-- reloaded, whose new value only takes effect at the next restart (pending_restart). Every
-- supported version (13+). pg_settings holds a few hundred rows at most; pending ones are
-- rare, so no limit is needed. `setting` is the value still in effect.
SELECT name, setting, unit, context
FROM pg_settings
WHERE pending_restart
ORDER BY name
