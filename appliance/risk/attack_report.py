"""Report sections of ``risk inversion`` and ``risk membership``: a table and a trade-off
plot each (matplotlib, Agg, PNG bytes), in ``report.py``'s ``extra_sections`` format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appliance.risk.policy import canary_recovery, membership_figure
from appliance.risk.report import by_defence, render_png


def _limit_lines(axes: Any, verdicts: Sequence[Mapping[str, Any]]) -> None:
    for verdict in verdicts:
        axes.axhline(verdict["max"], color="red", linestyle="--", label=f"{verdict['limit']} max")


def inversion_sections(
    rows: Sequence[Mapping[str, Any]], verdicts: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The inversion sweep as a table and a plot of canary recovery against utility."""

    def draw(axes: Any) -> None:
        for defence, group in by_defence(rows).items():
            axes.plot(
                [r["recall@10"] for r in group],
                [canary_recovery(r) for r in group],
                marker="o",
                label=defence,
            )
        _limit_lines(axes, verdicts)
        axes.set_xlabel("utility: neighbour recall@10 of the defended vectors")
        axes.set_ylabel("attack: canary recovery (worst rate)")
        axes.set_xlim(0, 1.02)
        axes.set_ylim(0, 1.02)
        axes.legend(fontsize=8, loc="upper left")
        axes.set_title("text inversion: defence trade-off")

    ndcg = any("ndcg@10" in r for r in rows)  # risk inversion --scifact
    text = [
        "A bag-of-tokens decoder trained on fabricated non-PHI notes about the people "
        "of a candidate roster reads canary names and MRNs back from the embeddings of "
        "synthetic notes. Canary recovery is the worst of the open and closed-set "
        "recovery rates of names and MRNs; the policy judges it on the row of the "
        "limit's defence. Utility is neighbour recall@10 of the defended vectors.",
    ]
    table = [
        {
            "defence": r["defence"],
            "level": r["level"],
            "token F1": r["f1"],
            "name (open)": r["name_recovered"],
            "name (closed set)": r["name_closed_top1"],
            "MRN (open)": r["mrn_recovered"],
            "MRN (closed set)": r["mrn_closed_top1"],
            "closed-set chance": r["name_closed_chance"],
            "canary recovery": canary_recovery(r),
            "recall@10": r["recall@10"],
            **(
                {"SciFact nDCG@10": r.get("ndcg@10"), "nDCG@10 kept": r.get("ndcg@10_kept")}
                if ndcg
                else {}
            ),
        }
        for r in rows
    ]
    if ndcg:
        text.append(
            "SciFact nDCG@10 is the retrieval figure of each level: exact search of the 300 "
            "SciFact test claims over its 5,183 abstracts with the level applied to the "
            "stored abstracts (noise levels leave the queries clean, as the appliance's "
            "search does; PCA, quantisation and rotation apply to queries too); kept is "
            "its ratio to the undefended nDCG@10."
        )
    return [
        {
            "name": "inversion-tradeoff",
            "title": "Inversion of text embeddings: every defence level",
            "text": text,
            "table": table,
            "png": render_png(draw),
        }
    ]


def membership_sections(
    rows: Sequence[Mapping[str, Any]], verdicts: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The membership rows as a table and a plot of attack AUC and bound per setting."""
    labels = [
        "no DP" if r["epsilon_target"] is None else f"epsilon {r['epsilon_target']:g}" for r in rows
    ]

    def draw(axes: Any) -> None:
        positions = list(range(len(rows)))
        axes.plot(positions, [r["loss_threshold"]["auc"] for r in rows], "o-", label="loss")
        axes.plot(positions, [r["shadow"]["auc"] for r in rows], "s-", label="shadow models")
        axes.plot(positions, [r["bound"]["auc"] for r in rows], "^:", label="DP bound")
        axes.axhline(0.5, color="grey", linestyle=":", label="chance")
        _limit_lines(axes, verdicts)
        axes.set_xticks(positions, labels)
        axes.set_ylabel("membership AUC")
        axes.set_ylim(0.4, 1.02)
        axes.legend(fontsize=8, loc="upper right")
        axes.set_title("membership inference against adapters")

    table = [
        {
            "adapter": label,
            "epsilon spent": r["epsilon_spent"],
            "loss AUC": r["loss_threshold"]["auc"],
            "loss TPR@1%": r["loss_threshold"]["tpr_at_fpr"],
            "shadow AUC": r["shadow"]["auc"],
            "shadow TPR@1%": r["shadow"]["tpr_at_fpr"],
            "bound AUC": r["bound"]["auc"],
            "judged AUC": membership_figure(r),
            "train accuracy": r["train_accuracy"],
            "held-out accuracy": r["held_out_accuracy"],
        }
        for r, label in zip(rows, labels, strict=True)
    ]
    return [
        {
            "name": "membership-tradeoff",
            "title": "Membership inference against adapters",
            "text": [
                "Adapters trained by the appliance's trainer on half of the pairs (members), "
                "attacked by a loss threshold and by shadow models; the judged AUC is the "
                "stronger of the two; the bound is what the epsilon spent allows at most. "
                "Accuracy is the cost of DP.",
            ],
            "table": table,
            "png": render_png(draw),
        }
    ]
