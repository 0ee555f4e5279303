"""Plain-text tables of the inversion, membership and repeat attack results (shared by
``appliance bench risk`` and ``appliance risk inversion|membership``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Echo = Callable[[str], None]


def print_inversion(rows: list[dict[str, Any]], echo: Echo) -> None:
    """One line per defence level: token F1, canary recovery (open / closed), utility."""
    if not rows:
        return
    chance = rows[0]["name_closed_chance"]
    ndcg = any("ndcg@10" in r for r in rows)  # SciFact nDCG@10 and kept, when measured
    echo(
        f"{'defence':<12}{'level':<26}{'P':>6}{'R':>6}{'F1':>6}"
        f"{'name':>7}{'name@cand':>10}{'mrn':>6}{'mrn@cand':>9}{'R@10':>7}"
        + (f"{'nDCG@10':>9}{'kept':>7}" if ndcg else "")
        + f"   (closed-set chance {chance:.3f})"
    )
    for r in rows:
        utility = _figure(r.get("ndcg@10"), 9, 4) + _figure(r.get("ndcg@10_kept"), 7, 3)
        echo(
            f"{r['defence']:<12}{r['level']:<26}{r['precision']:6.3f}{r['recall']:6.3f}"
            f"{r['f1']:6.3f}{r['name_recovered']:7.3f}{r['name_closed_top1']:10.3f}"
            f"{r['mrn_recovered']:6.3f}{r['mrn_closed_top1']:9.3f}{r['recall@10']:7.3f}"
            + (utility if ndcg else "")
        )


def _figure(value: Any, width: int, places: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.{places}f}"


def print_membership(rows: list[dict[str, Any]], echo: Echo) -> None:
    """One line per privacy setting: both attacks next to the DP bound."""
    echo(
        f"{'epsilon':<9}{'spent':>7}{'loss AUC':>10}{'TPR@1%':>8}{'shadow AUC':>12}"
        f"{'TPR@1%':>8}{'bound AUC':>11}{'bound TPR':>11}{'train acc':>11}{'held acc':>10}"
    )
    for r in rows:
        spent = "-" if r["epsilon_spent"] is None else f"{r['epsilon_spent']:.2f}"
        target = "none" if r["epsilon_target"] is None else f"{r['epsilon_target']:g}"
        echo(
            f"{target:<9}{spent:>7}{r['loss_threshold']['auc']:10.3f}"
            f"{r['loss_threshold']['tpr_at_fpr']:8.3f}{r['shadow']['auc']:12.3f}"
            f"{r['shadow']['tpr_at_fpr']:8.3f}{r['bound']['auc']:11.3f}"
            f"{r['bound']['tpr_at_fpr']:11.3f}{r['train_accuracy']:11.3f}"
            f"{r['held_out_accuracy']:10.3f}"
        )


def print_repeat(rows: list[dict[str, Any]], echo: Echo) -> None:
    """Per noise level and mode: distinct answers, one answer's distance, the mean's."""
    echo("repeat attack: cosine distance to the clean vector (one answer -> mean of all)")
    for r in rows:
        for mode, m in r["modes"].items():
            echo(
                f"  sigma={r['sigma']:<5} {mode:<21} {m['distinct_answers']:>3} distinct of "
                f"{m['queries']:>3}: {m['single_distance']:.2e} -> {m['averaged_distance']:.2e}"
                f" (gain {m['gain']:.1f}x)"
            )


def print_report(report: dict[str, Any], echo: Echo) -> None:
    """Every section present in ``report``."""
    inversion = report.get("inversion")
    if inversion:
        echo(f"inversion ({inversion['params']})")
        if "public_decoder" in inversion:
            echo("decoder trained without the roster, clean vectors:")
            print_inversion([{"defence": "none", "level": "-", "recall@10": 1.0,
                              **inversion["public_decoder"]}], echo)  # fmt: skip
            echo("decoder trained on notes about the roster, per defence:")
        print_inversion(inversion["rows"], echo)
        if inversion.get("corpus"):
            from appliance.risk.corpus_canaries import print_corpus

            print_corpus(inversion["corpus"], echo)
        conditional = inversion.get("conditional_decoder")
        if conditional:
            echo(f"conditional (GRU) decoder, {conditional['epochs']} epochs, same roster text:")
            print_inversion([{"recall@10": float("nan"), **r} for r in conditional["rows"]], echo)
    if report.get("membership"):
        echo("membership inference against adapters")
        print_membership(report["membership"], echo)
    if report.get("repeat"):
        print_repeat(report["repeat"], echo)
    if report.get("goals"):
        for name, met in report["goals"].items():
            echo(f"goal {'met' if met else 'NOT met'}: {name}")
