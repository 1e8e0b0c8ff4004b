"""`xscale synth check`: measurements that the synthetic benchmark is a benchmark.

    rows.py             the row every check produces, and the table that prints them
    data.py             data checks: surface shortcuts stay near chance, labels are balanced
    transfer.py         model checks: pretraining transfers, languages are graded, retrieval works
    runner.py           runs the checks over several seeds (side by side with --jobs)
    grammar_ceiling.py  diagnostic: what each language's grammar alone costs transfer
"""
