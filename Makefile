.PHONY: run stop status test bench lint mutation
run:
	./start_hybrid_architecture.sh
stop:
	./stop_hybrid_architecture.sh
status:
	./start_hybrid_architecture.sh --status
test:
	./run_tests.sh
bench:
	for b in benchmarks/*.py; do .venv/bin/python $$b || exit 1; done
lint:
	.venv/bin/ruff check backend engines tests benchmarks
mutation:
	.venv/bin/python scripts/mutation.py
