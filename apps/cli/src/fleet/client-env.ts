import { env, z } from '@fleet/config';

const unsetIfEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' ? undefined : v), schema);

/**
 * The variables the `fleet` client commands read (login, rollout, flags, keys): where the API is and the key, over
 * the config file's profile. The local commands (up, migrate, ...) read cliConfigSchema's.
 */
export const fleetClientEnvSchema = z.object({
  /** The API's base URL, over the profile's. */
  FLEET_URL: unsetIfEmpty(z.url({ error: 'expected a URL such as http://127.0.0.1:3000' }).optional()),
  /** The API key, over the profile's (a secret: never printed). */
  FLEET_API_KEY: unsetIfEmpty(z.string().optional()),
  /** The profile of the config file to use when --profile is not given. Default `default`. */
  FLEET_PROFILE: unsetIfEmpty(z.string().optional()),
  /** The config file's path. Default `$XDG_CONFIG_HOME/fleet/config.json`, else `~/.config/fleet/config.json`. */
  FLEET_CONFIG: unsetIfEmpty(z.string().optional()),
  XDG_CONFIG_HOME: unsetIfEmpty(z.string().optional()),
  HOME: unsetIfEmpty(z.string().optional()),
  NO_COLOR: env.noColor(),
});

export type FleetClientEnv = Readonly<z.output<typeof fleetClientEnvSchema>>;
