-- server_conf_loaded: when this session last loaded the configuration files (at start-up
-- or at the last reload). Every supported version. Which settings wait for a restart
-- changes only with a reload, so the server collector reads pg_settings (which builds
-- every setting) only when this time changes.
SELECT pg_conf_load_time() AS loaded_at
