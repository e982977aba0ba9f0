import type { ReactNode } from 'react';
import { TableRegion } from './table-region.tsx';

/**
 * A table of rows under a header of column names, in its own scrolling region (TableRegion, named `label`): the rows
 * are the children (each with a `<th scope="row">` naming it); `empty`, when given, is one row across every column
 * saying there is none. A column's name may be a control (a select-all checkbox).
 */
export function DataTable(props: {
  label: string;
  columns: readonly ReactNode[];
  caption?: ReactNode;
  empty?: ReactNode;
  children: ReactNode;
}) {
  return (
    <TableRegion label={props.label}>
      <table>
        {props.caption !== undefined && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((column, index) => (
              // Columns are fixed for one table: their place is their identity.
              <th key={index} scope="col">
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.children}
          {props.empty !== undefined && (
            <tr>
              <td colSpan={props.columns.length}>{props.empty}</td>
            </tr>
          )}
        </tbody>
      </table>
    </TableRegion>
  );
}

/**
 * The options of a select among fixed values, each shown as itself; with `any`, first an option `any` of value ''
 * (no filter).
 */
export function ValueOptions(props: { values: readonly string[]; any?: boolean }) {
  return (
    <>
      {props.any && <option value="">any</option>}
      {props.values.map((value) => (
        <option key={value} value={value}>
          {value}
        </option>
      ))}
    </>
  );
}
