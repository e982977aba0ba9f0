#!/usr/bin/env node
// The `fleet` bin (npx fleet ... from the repository): registers tsx in this process and runs src/main.ts, as the
// apps are started with `node --import tsx` (@fleet/lifecycle appLaunchArgs), so signals and the terminal are this
// process's own.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
