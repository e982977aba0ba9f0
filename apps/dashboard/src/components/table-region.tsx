import type { ReactNode } from 'react';

/**
 * A table that may be wider than a phone's screen scrolls inside its own region, which the keyboard can reach
 * (focusable) and a screen reader can name.
 */
export function TableRegion(props: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}
