// The enqueue thread's first module, plain JavaScript: a worker thread does not inherit the API's TypeScript loader
// (tsx, from `node --import tsx` or a test runner), so it registers tsx itself and then loads the TypeScript entry,
// as the `fleet` bin does.
import { register } from 'tsx/esm/api';

register();
await import('./thread-main.ts');
