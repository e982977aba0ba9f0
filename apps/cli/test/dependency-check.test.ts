import { describe, expect, it } from 'vitest';
import { problemLine, startCommand, whereOf } from '../src/dependency-check.ts';
import type { DependencyProblem, StartTools } from '../src/dependency-check.ts';

const none: StartTools = { debianClusters: null, redisServer: false, root: false };
const debian: StartTools = {
  debianClusters: [{ version: '15', cluster: 'main', port: '5432' }],
  redisServer: true,
  root: false,
};

describe('whereOf', () => {
  it('gives host:port without user or password, the default port filled in', () => {
    expect(whereOf('postgresql://fleet:s3cret@db.internal/fleet', 'postgres')).toBe('db.internal:5432');
    expect(whereOf('redis://:s3cret@127.0.0.1:6390/2', 'redis')).toBe('127.0.0.1:6390');
    expect(whereOf('redis://[::1]', 'redis')).toBe('[::1]:6379');
    expect(whereOf('postgresql:///fleet?host=/var/run/postgresql', 'postgres')).toBe('/var/run/postgresql:5432');
  });
});

describe('startCommand', () => {
  it.each([
    ['postgres', '127.0.0.1:5432', none, 'docker compose up -d postgres redis'],
    ['redis', 'localhost:6379', none, 'docker compose up -d postgres redis'],
    ['postgres', '127.0.0.1:5432', debian, 'sudo pg_ctlcluster 15 main start'],
    ['postgres', '127.0.0.1:5432', { ...debian, root: true }, 'pg_ctlcluster 15 main start'],
    // No Debian cluster listens on that port: starting 15/main would not make it answer there.
    ['postgres', '127.0.0.1:5999', debian, 'docker compose up -d postgres redis'],
    ['redis', '127.0.0.1:6380', debian, 'redis-server --daemonize yes --port 6380 --maxmemory-policy noeviction'],
    ['postgres', 'db.internal:5432', debian, null],
    ['redis', '10.0.0.7:6379', none, null],
  ] as const)('%s at %s with %o: %s', (dependency, where, tools, expected) => {
    expect(startCommand({ dependency, where }, tools)).toBe(expected);
  });
});

describe('problemLine', () => {
  const problem: DependencyProblem = {
    dependency: 'postgres',
    kind: 'unreachable',
    where: 'db.internal:5432',
    variable: 'DATABASE_URL',
    detail: 'connect ETIMEDOUT',
  };

  it('asks whether a remote dependency runs and is reachable, as nothing here can start it', () => {
    expect(problemLine(problem, debian)).toBe(
      'fleet up: Postgres does not answer at db.internal:5432 (DATABASE_URL): connect ETIMEDOUT; is it running, and reachable from this machine?',
    );
  });

  it('points at the credentials, not at a start command, when the dependency answered but refused us', () => {
    expect(
      problemLine(
        { ...problem, kind: 'refused', where: '127.0.0.1:5432', detail: 'password authentication failed' },
        debian,
      ),
    ).toBe(
      'fleet up: Postgres answered but refused the connection at 127.0.0.1:5432 (DATABASE_URL): ' +
        'password authentication failed; check the user and password in DATABASE_URL',
    );
  });
});
