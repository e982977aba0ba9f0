/**
 * Saves text as a file. The CSV needs the key in `Authorization`, so it cannot be a plain link: the console fetches
 * it and hands the browser a blob: URL to save (a navigation to download, which the page's CSP does not restrict).
 */
export function saveText(fileName: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
