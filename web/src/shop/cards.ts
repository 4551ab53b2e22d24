// The sandbox processor's test cards (docs/payments.md): no money moves in the sandbox.
export const SANDBOX_CARDS = [
  { number: "4242 4242 4242 4242", outcome: "approved" },
  { number: "4000 0000 0000 0002", outcome: "declined" },
  { number: "4000 0000 0000 9995", outcome: "declined: insufficient funds" },
  { number: "4000 0000 0000 0119", outcome: "fails twice, then approved" },
] as const;
