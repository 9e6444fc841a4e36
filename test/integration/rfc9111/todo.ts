// Rows that fail on the code under test, by `<section>/<id>`, with the issue item that fixes them.
// Written from a run of the table against main before the fixes (RFC9111_ALL=1); a fix deletes
// its rows here, so the table stays green and this list is what is left.
export const STILL_FAILING: Readonly<Record<string, string>> = {
}
