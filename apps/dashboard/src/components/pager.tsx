import { useState } from 'react';

/**
 * Keyset pages of an API listing (`cursor` in, `nextCursor` out): the cursors of the pages opened so far, so that
 * Previous goes back without the API having to page backwards.
 */
export function useCursorPages() {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  return {
    /** The cursor of the page shown (undefined: the first). */
    cursor: cursors[cursors.length - 1],
    /** 1 for the first page. */
    pageNumber: cursors.length,
    previous: () => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)),
    next: (nextCursor: string) => setCursors((c) => [...c, nextCursor]),
    reset: () => setCursors([undefined]),
  };
}

export function Pager(props: { pages: ReturnType<typeof useCursorPages>; nextCursor: string | null | undefined }) {
  const { pages, nextCursor } = props;
  return (
    <div className="pager">
      <button type="button" disabled={pages.pageNumber <= 1} onClick={pages.previous}>
        Previous page
      </button>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        Next page
      </button>
    </div>
  );
}
