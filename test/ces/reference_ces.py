"""Independent reference for src/ces: builds the CES schedule LP and the household day QP from
docs/ces.md's formulas with dense matrices and solves them with cvxopt (an interior-point solver,
not HiGHS). Reads one JSON instance on stdin, writes {"status", "objective"} on stdout."""
import json
import math
import sys

try:
    import numpy as np
    from cvxopt import matrix, solvers
except ImportError as error:  # the caller turns this into a clear test failure
    print(json.dumps({"status": "missing-dependency", "message": str(error)}))
    sys.exit(0)

solvers.options.update({"show_progress": False, "abstol": 1e-9, "reltol": 1e-9, "feastol": 1e-9, "maxiters": 500})


class Lp:
    def __init__(self):
        self.n = 0
        self.names = {}
        self.eq = []  # (dict col->coef, rhs)
        self.le = []  # (dict, rhs):  row <= rhs
        self.q = []
        self.p = []

    def var(self, name, count, lower=None, upper=None):
        start = self.n
        self.n += count
        self.q += [0.0] * count
        self.p += [0.0] * count
        for k in range(count):
            lo = lower(k) if callable(lower) else lower
            up = upper(k) if callable(upper) else upper
            if lo is not None and up is not None and lo == up:
                self.eq.append(({start + k: 1.0}, lo))
                continue
            if lo is not None:
                self.le.append(({start + k: -1.0}, -lo))
            if up is not None and math.isfinite(up):
                self.le.append(({start + k: 1.0}, up))
        self.names[name] = start
        return start

    def solve(self, offset):
        def dense(rows):
            a = np.zeros((len(rows), self.n))
            b = np.zeros(len(rows))
            for i, (coefs, rhs) in enumerate(rows):
                for j, v in coefs.items():
                    a[i, j] += v
                b[i] = rhs
            return matrix(a), matrix(b)
        G, h = dense(self.le)
        A, b = dense(self.eq)
        q = matrix(np.array(self.q))
        if any(v != 0 for v in self.p):
            P = matrix(np.diag(self.p))
            sol = solvers.qp(P, q, G, h, A, b)
        else:
            sol = solvers.lp(q, G, h, A, b)
        if sol["status"] != "optimal":
            return {"status": sol["status"]}
        x = np.array(sol["x"]).ravel()
        return {"status": "optimal", "objective": float(np.dot(self.q, x) + 0.5 * np.dot(self.p, x * x) + offset), "x": x.tolist()}


def ces(inst):
    s = inst["settings"]
    prices = inst["priceScenariosEurPerKwh"]
    S, T = len(prices), len(prices[0])
    p2p = inst["p2p"]["salesKw"] if "p2p" in inst else [0.0] * T
    p2p_price = inst["p2p"]["priceEurPerKwh"] if "p2p" in inst else [0.0] * T
    rental = inst["rental"]
    eta = math.sqrt(s["roundTripEfficiency"])
    sold = rental.get("rental") if rental["kind"] == "sold" else None
    acc_in = sold["accountChargeKw"] if sold else [0.0] * T
    acc_out = sold["accountDischargeKw"] if sold else [0.0] * T
    rent_price = rental["priceEurPerKwhDay"] if rental["kind"] == "offer" else 0.0
    fixed = sum(v * p2p_price[t] for t, v in enumerate(p2p)) + (sold["revenueEur"] if sold else 0.0)
    lp = Lp()
    P = s["powerKw"]
    own_c = lp.var("c", T, 0.0, P)
    own_d = lp.var("d", T, 0.0, P)
    phys_c = lp.var("C", T, 0.0, P)
    phys_d = lp.var("D", T, 0.0, P)
    e = lp.var("e", T + 1, s["minEnergyKwh"], lambda k: s["minEnergyKwh"] if k in (0, T) else s["capacityKwh"])
    if rental["kind"] == "offer":
        K = lp.var("K", 1, 0.0, s["capacityKwh"] - s["minEnergyKwh"])
    else:
        cap = sold["capacityKwh"] if sold else 0.0
        K = lp.var("K", 1, cap, cap)
    zeta = lp.var("zeta", 1, None, None)
    u = lp.var("u", S, 0.0, None)
    lam, alpha, deg = s["riskWeight"], s["confidence"], s["degradationEurPerKwh"]
    # profit_s as a dict over columns (the market position m_t = d_t - c_t - p_t is substituted)
    def profit(i):
        coefs = {K: rent_price}
        const = fixed
        for t in range(T):
            coefs[own_d + t] = coefs.get(own_d + t, 0.0) + prices[i][t]
            coefs[own_c + t] = coefs.get(own_c + t, 0.0) - prices[i][t]
            const -= prices[i][t] * p2p[t]
            coefs[phys_c + t] = -deg
            coefs[phys_d + t] = -deg
        return coefs, const
    offset = 0.0
    for i in range(S):
        coefs, const = profit(i)
        for j, v in coefs.items():
            lp.q[j] -= v / S
        offset -= const / S
        # u_i >= zeta - profit_i  <=>  zeta - profit_i - u_i <= 0
        row = {j: -v for j, v in coefs.items()}
        row[zeta] = 1.0
        row[u + i] = -1.0
        lp.le.append((row, const))
    lp.q[zeta] -= lam
    for i in range(S):
        lp.q[u + i] += lam / ((1 - alpha) * S)
    for t in range(T):
        lp.eq.append(({e + t + 1: 1.0, e + t: -1.0, own_c + t: -eta, own_d + t: 1.0 / eta}, 0.0))
        if t + 1 < T:
            lp.le.append(({e + t + 1: 1.0, K: 1.0}, s["capacityKwh"]))
        lp.le.append(({own_c + t: 1.0, K: s["rentalKwPerKwh"]}, P))
        lp.le.append(({own_d + t: 1.0, K: s["rentalKwPerKwh"]}, P))
        lp.eq.append(({phys_c + t: 1.0, phys_d + t: -1.0, own_c + t: -1.0, own_d + t: 1.0}, acc_in[t] - acc_out[t]))
        # market position within the connection: -G <= d - c - p <= G
        lp.le.append(({own_d + t: 1.0, own_c + t: -1.0}, s["gridKw"] + p2p[t]))
        lp.le.append(({own_d + t: -1.0, own_c + t: 1.0}, s["gridKw"] - p2p[t]))
    return lp.solve(offset)


def household(inst):
    mu = inst["netLoadKw"]
    T = len(mu)
    own = inst.get("battery")
    ces = inst.get("ces") or {}
    rent, p2p = ces.get("rent"), ces.get("p2p")
    lp = Lp()
    G = inst["gridKw"]
    gi = lp.var("gi", T, 0.0, G)
    go = lp.var("go", T, 0.0, G)
    x = lp.var("x", T, 0.0, p2p["maxKw"] if p2p else 0.0)
    peak = lp.var("peak", 1, 0.0, None)
    for t in range(T):
        lp.q[gi + t] = inst["buyEurPerKwh"][t]
        lp.q[go + t] = -inst["sellEurPerKwh"][t]
        if p2p:
            # the buyer pays the CES's price plus its own local grid fee, VAT on both
            fees = inst["p2pFees"]
            lp.q[x + t] = (p2p["priceEurPerKwh"][t] + fees["localGridFeeEurPerKwh"]) * fees["vatFactor"]
    lp.q[peak] = inst["demandChargeEurPerKwDay"]
    if own:
        b = own["params"]
        c = lp.var("c", T, 0.0, b["maxChargeKw"])
        d = lp.var("d", T, 0.0, b["maxDischargeKw"])
        e = lp.var("e", T + 1, lambda k: own["initialEnergyKwh"] if k == 0 else b["minEnergyKwh"], lambda k: own["initialEnergyKwh"] if k == 0 else b["maxEnergyKwh"])
        for t in range(T):
            lp.p[c + t] = lp.p[d + t] = 2 * own["wearEurPerKw2h"]
            lp.eq.append(({e + t + 1: 1.0, e + t: -1.0, c + t: -b["chargeEfficiency"], d + t: 1.0 / b["dischargeEfficiency"]}, 0.0))
        lp.q[e + T] = -own["terminalEurPerKwh"]
    if rent:
        K = lp.var("K", 1, 0.0, rent["maxKwh"])
        ac = lp.var("ac", T, 0.0, None)
        ad = lp.var("ad", T, 0.0, None)
        a = lp.var("a", T + 1, 0.0, lambda k: 0.0 if k in (0, T) else None)
        lp.q[K] = rent["priceEurPerKwhDay"]
        for t in range(T):
            lp.q[ac + t] = rent["throughputFeeEurPerKwh"]
            lp.q[ad + t] = rent["throughputFeeEurPerKwh"] + rent["withdrawalFeeEurPerKwh"]
            eta = rent["efficiency"]
            lp.eq.append(({a + t + 1: 1.0, a + t: -1.0, ac + t: -eta, ad + t: 1.0 / eta}, 0.0))
            lp.le.append(({a + t: 1.0, K: -1.0}, 0.0))
            lp.le.append(({ac + t: 1.0, K: -rent["kwPerKwh"]}, 0.0))
            lp.le.append(({ad + t: 1.0, K: -rent["kwPerKwh"]}, 0.0))
    for t in range(T):
        metered = {gi + t: 1.0, go + t: -1.0, x + t: 1.0}
        if rent:
            metered[ad + t] = 1.0
            metered[ac + t] = -1.0
        balance = dict(metered)
        if own:
            balance[d + t] = 1.0
            balance[c + t] = -1.0
        lp.eq.append((balance, mu[t]))
        row = dict(metered)
        row[peak] = -1.0
        lp.le.append((row, 0.0))
    return lp.solve(0.0)


instance = json.load(sys.stdin)
result = ces(instance["ces"]) if "ces" in instance and "settings" in instance["ces"] else household(instance["household"])
result.pop("x", None)
print(json.dumps(result))
