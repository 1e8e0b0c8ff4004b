"""`target.max_eval_examples` caps the retrieval tasks of the synthetic benchmark as it does the real ones."""

from xscale import data
from xscale.spec import parse_spec
from xscale.tasks.registry import get_task


def test_synthetic_retrieval_tasks_honour_the_eval_cap(tmp_path):
    def bench(cap):
        spec = parse_spec({"benchmark": {"preset": "tiny"}, "target": {"max_eval_examples": cap}}, name="caps")
        return data.make(spec, tmp_path)

    capped, full = bench(30), bench(None)
    tatoeba, bucc = get_task("tatoeba"), get_task("bucc")
    lang = next(lang for lang in full.languages(tatoeba) if lang != "en")
    assert len(capped.test(tatoeba, lang)) == 30 < len(full.test(tatoeba, lang))
    assert list(capped.test(tatoeba, lang)["source_sentence"]) == list(full.test(tatoeba, lang)["source_sentence"][:30])

    rows = capped.test(bucc, lang)
    source = [r for r in rows if r["lang"] != "en"]
    english = {r["id"] for r in rows if r["lang"] == "en"}
    assert len(source) == 30 and len(rows) < len(full.test(bucc, lang))
    assert {r["gold"] for r in source if r["gold"]} <= english  # every gold translation stays a candidate
    # Other tasks are capped by the pipeline's evaluate(), not here.
    assert len(capped.test(get_task("xnli"), lang)) == len(full.test(get_task("xnli"), lang))
