"""logsvc's benchmarks: `python -m benchmarks` (from the checkout) measures every headline figure.

It sets everything up on loopback in a temporary folder (local stores, `logsvc serve`, a moto
server with a table), times whole processes side by side with what an operator would run
instead (hyperfine when installed), and writes `benchmarks/RESULTS.md` and PNG plots. The
`bench_*.py` scripts stay runnable on their own for one area at a time.
"""
