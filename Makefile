# The README's two commands, and the benchmarks. The scripts live in .ci/.
.PHONY: serve test bench prepare-queries

serve:
	@bash .ci/serve

test:
	@bash .ci/test

bench:
	@bash .ci/bench

# After changing a query: refresh the committed .sqlx/ data the offline build checks against.
prepare-queries:
	@bash .ci/prepare-queries
