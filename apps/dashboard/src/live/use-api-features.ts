/**
 * What this API offers beyond what every version has, read from its own OpenAPI document (public, /openapi.json):
 * the console shows the dry-run plan only where POST /v1/rollouts takes `dryRun`, and webhooks only where
 * /v1/webhooks exists, so one build of the console works with an API before and after those land.
 */
import { useQuery } from '@tanstack/react-query';

type OpenApi = {
  paths?: Record<
    string,
    Record<
      string,
      { requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> } }
    >
  >;
};

export type ApiFeatures = { dryRun: boolean; webhooks: boolean };

function featuresOf(document: OpenApi): ApiFeatures {
  const paths = document.paths ?? {};
  const createBody = paths['/v1/rollouts']?.post?.requestBody?.content?.['application/json']?.schema;
  return {
    dryRun: Boolean(createBody?.properties && 'dryRun' in createBody.properties),
    webhooks: Object.keys(paths).some((path) => path.startsWith('/v1/webhooks')),
  };
}

export function useApiFeatures(): ApiFeatures | undefined {
  return useQuery({
    queryKey: ['openapi-features'],
    queryFn: async () => {
      const res = await fetch('/openapi.json', { headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
      return featuresOf((await res.json()) as OpenApi);
    },
    staleTime: Infinity,
  }).data;
}
