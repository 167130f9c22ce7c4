/**
 * The nodes reachable from `roots`, each after all of its inputs (depth-first post-order; the last root is
 * explored first). Iterative, so graphs thousands of nodes deep cannot overflow the call stack.
 */
export function postorder<N>(roots: readonly N[], inputs: (n: N) => readonly (N | null)[]): N[] {
  const order: N[] = [];
  const seen = new Set<N>();
  const stack: [N, boolean][] = roots.map((r) => [r, false]);
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) {
      order.push(n);
      continue;
    }
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push([n, true]);
    for (const i of inputs(n)) if (i !== null && !seen.has(i)) stack.push([i, false]);
  }
  return order;
}
