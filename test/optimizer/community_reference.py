#!/usr/bin/python3
"""Independent reference for the community tests (formulation section 8).

Reads {"households": [ProblemInput, ...], "terms": CommunityTerms} as JSON on stdin. Each
household's QP is reference_qp.py's build (itself independent of the TypeScript builder: no n, w or
Z columns). The community terms are written here from the formulation, not from the TypeScript:
the coincident import is summed from g+ - g- directly, one peak variable per day bounded below by
the peak already reached, and the joint CVaR block of the communityImport family with explicit
lambda >= 1 - beta rows for every household and step. Solved by cvxopt's interior point QP;
prints {"status", "objective", "peakKw", "netKw"} as JSON.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_qp  # noqa: E402  (prints the missing-dependency status itself)

SAMPLE_FLOOR_KW = reference_qp.SAMPLE_FLOOR_KW


def floor(v):
    return v if abs(v) >= SAMPLE_FLOOR_KW else (-SAMPLE_FLOOR_KW if v < 0 else SAMPLE_FLOOR_KW)


def build(problem):
    qp = reference_qp.Qp()
    households = problem["households"]
    for n, inp in enumerate(households):
        qp.prefix = f"h{n}:"
        reference_qp.build(inp, qp)
    qp.prefix = "community:"
    terms = problem["terms"]
    day_of = terms["dayOfStep"]
    T = len(day_of)
    days = max(day_of) + 1
    peak = qp.var("peak", days)
    for d in range(days):
        qp.le.append(({peak[d]: -1.0}, -terms["peakSoFarKw"][d]))
        qp.add_lin(peak[d], terms["peakChargeEurPerKwDay"])

    def net(t):  # sum_n g+_{n,t} - g-_{n,t} as {col: coef}
        row = {}
        for n in range(len(households)):
            row[qp.names[f"h{n}:gp"][t]] = 1.0
            row[qp.names[f"h{n}:gm"][t]] = -1.0
        return row

    for t in range(T):
        row = net(t)
        row[peak[day_of[t]]] = -1.0
        qp.le.append((row, 0.0))

    chance = terms.get("chance")
    if chance:
        xi = [[[floor(v) for v in hh] for hh in sample] for sample in chance["jointSamplesKw"]]
        I = len(xi)
        tau = qp.var("tau", 1)[0]
        lam = qp.var("lambda", 1)[0]
        sig = qp.var("sigma", I)
        budget = {tau: chance["epsilon"], lam: chance["radiusKw"]}
        for i in range(I):
            budget[sig[i]] = 1.0 / I
            qp.le.append(({sig[i]: -1.0}, 0.0))
        qp.le.append((budget, 0.0))
        for n in range(len(households)):
            for t in range(T):
                # lambda >= |a| = 1 - beta_{n,t}
                qp.le.append(({lam: -1.0, qp.names[f"h{n}:beta"][t]: -1.0}, -1.0))
        for t in range(T):
            for i in range(I):
                # sum_n (1 - beta) xi - (peak - net) - tau <= sigma_i
                row = net(t)
                row[peak[day_of[t]]] = -1.0
                row[tau] = -1.0
                row[sig[i]] = -1.0
                rhs = 0.0
                for n in range(len(households)):
                    row[qp.names[f"h{n}:beta"][t]] = -xi[i][n][t]
                    rhs -= xi[i][n][t]
                qp.le.append((row, rhs))
    return qp, peak


def main():
    problem = json.load(sys.stdin)
    qp, peak = build(problem)
    status, x, objective = qp.solve()
    T = len(problem["terms"]["dayOfStep"])
    net = [sum(float(x[qp.names[f"h{n}:gp"][t]] - x[qp.names[f"h{n}:gm"][t]]) for n in range(len(problem["households"]))) for t in range(T)]
    print(json.dumps({"status": status, "objective": objective, "peakKw": [float(x[k]) for k in peak], "netKw": net}))


if __name__ == "__main__":
    main()
