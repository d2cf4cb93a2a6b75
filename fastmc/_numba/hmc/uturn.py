"""The generalised U-turn criterion of NUTS and its leaf records. Twin:
csrc/include/fastmc/hmc/uturn.hpp, which documents the slot scheme. Leaf records are
(max_depth + 1, d) arrays addressed by slot; the C++ twin's four-lane vector loops are the loops
here with partial sums s0..s3 by lane i % 4 (tails into lane 0)."""
from .._jit import njit_inline
from ..core.linalg import fma


@njit_inline
def ctz(x):
    t = 0
    while (x & 1) == 0:
        x >>= 1
        t += 1
    return t


@njit_inline
def lane_sum(s0, s1, s2, s3):
    return (s0 + s1) + (s2 + s3)


@njit_inline
def _end_lane(t, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb):
    if rec:
        Se[T, i] = R[i]
        Ve[T, i] = v[i]
    R[i] += p[i]
    r = R[i] - Sb[ja, i]
    return fma(Vb[ja, i], r, t[0]), fma(v[i], r, t[1])


@njit_inline
def record_end_check(rec, Se, Ve, T, R, p, v, Vb, ja, Sb, d):
    """An odd leaf in one pass: (rec) record S_n and its velocity in slot T, R += p, and the
    level-1 node check with rho = R - Sb[ja] at velocities Vb[ja] and v."""
    z = (0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _end_lane(t0, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t1 = _end_lane(t1, i + 1, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t2 = _end_lane(t2, i + 2, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        t3 = _end_lane(t3, i + 3, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        i += 4
    while i < d:
        t0 = _end_lane(t0, i, rec, Se, Ve, T, R, p, v, Vb, ja, Sb)
        i += 1
    return lane_sum(t0[0], t1[0], t2[0], t3[0]) > 0.0 and lane_sum(t0[1], t1[1], t2[1], t3[1]) > 0.0


@njit_inline
def _acc3(t, r0, r1, r2, x0, y0, x1, y1, x2, y2):
    return (fma(x0, r0, t[0]), fma(y0, r0, t[1]), fma(x1, r1, t[2]), fma(y1, r1, t[3]), fma(x2, r2, t[4]),
            fma(y2, r2, t[5]))


@njit_inline
def _all_positive(t0, t1, t2, t3):
    ok = True
    for c in range(6):
        ok = ok and lane_sum(t0[c], t1[c], t2[c], t3[c]) > 0.0
    return ok


@njit_inline
def _node3_lane(t, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se):
    va = Vb[ja, i]
    vb = vw[i]
    return _acc3(t, R[i] - Sb[ja, i], Sn[h1, i] - Sb[ja, i], R[i] - Se[h1, i], va, vb, va, Vb[h1, i], Ve[h1, i], vb)


@njit_inline
def uturn_node3(Vb, ja, vw, h1, Ve, R, Sb, Sn, Se, d):
    """The three checks of a node of level >= 2 (first leaf in slot ja, midpoint slot h1)."""
    z = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _node3_lane(t0, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t1 = _node3_lane(t1, i + 1, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t2 = _node3_lane(t2, i + 2, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        t3 = _node3_lane(t3, i + 3, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        i += 4
    while i < d:
        t0 = _node3_lane(t0, i, Vb, ja, vw, h1, Ve, R, Sb, Sn, Se)
        i += 1
    return _all_positive(t0, t1, t2, t3)


@njit_inline
def _join3_lane(t, i, vf, vw, Vb, j0, vo, rho, R, Sn, po):
    f = vf[i]
    vn = vw[i]
    return _acc3(t, rho[i] + R[i], rho[i] + Sn[j0, i], R[i] + po[i], f, vn, f, Vb[j0, i], vo[i], vn)


@njit_inline
def uturn_join3(vf, vw, Vb, j0, vo, rho, R, Sn, po, d):
    """The three checks across a join: tree + subtree, tree + first leaf, subtree + old end."""
    z = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    t0 = z
    t1 = z
    t2 = z
    t3 = z
    i = 0
    while i + 4 <= d:
        t0 = _join3_lane(t0, i, vf, vw, Vb, j0, vo, rho, R, Sn, po)
        t1 = _join3_lane(t1, i + 1, vf, vw, Vb, j0, vo, rho, R, Sn, po)
        t2 = _join3_lane(t2, i + 2, vf, vw, Vb, j0, vo, rho, R, Sn, po)
        t3 = _join3_lane(t3, i + 3, vf, vw, Vb, j0, vo, rho, R, Sn, po)
        i += 4
    while i < d:
        t0 = _join3_lane(t0, i, vf, vw, Vb, j0, vo, rho, R, Sn, po)
        i += 1
    return _all_positive(t0, t1, t2, t3)


@njit_inline
def record_first(Sb, Sn, Vb, j, R, p, v, d):
    """Leaf 0 of a subtree: S_0 = 0, R = S_1 = 0 + p."""
    for i in range(d):
        Sb[j, i] = 0.0
        R[i] = 0.0 + p[i]
        Sn[j, i] = R[i]
        Vb[j, i] = v[i]


@njit_inline
def record_start(Sb, Sn, Vb, j, R, p, v, d):
    for i in range(d):
        Sb[j, i] = R[i]
        R[i] += p[i]
        Sn[j, i] = R[i]
        Vb[j, i] = v[i]


@njit_inline
def add_to(R, p, d):
    for i in range(d):
        R[i] += p[i]


# The leaf records of the subtree being built (UturnSlots in uturn.hpp): slots = (Sb, Sn, Vb, Se,
# Ve), each (max_depth + 1, d); R is the running momentum sum S.


@njit_inline
def slots_first_leaf(slots, depth, R, p, v, d):
    """Leaf 0 of a subtree of depth ``depth``: S_0 = 0, R = S_1 = 0 + p, in slot depth."""
    Sb, Sn, Vb, Se, Ve = slots
    record_first(Sb, Sn, Vb, depth, R, p, v, d)


@njit_inline
def slots_leaf(slots, n, depth, R, p, v, d):
    """Leaf n >= 1: records it and checks every node it completes; False on a U-turn."""
    Sb, Sn, Vb, Se, Ve = slots
    if (n & 1) == 0:  # starts the nodes of levels 1..ctz(n): record S_n, S_{n+1}, v
        record_start(Sb, Sn, Vb, ctz(n), R, p, v, d)
        return True
    c = ctz(n + 1)
    T = c if c < depth else depth
    # T >= 1: the level-1 node [n - 1, n] ends here, checked in the same pass as the record
    j1 = depth if n == 1 else ctz(n - 1)
    valid = record_end_check(T < depth, Se, Ve, T, R, p, v, Vb, j1, Sb, d)
    k = 2
    while k <= T and valid:
        a = n + 1 - (1 << k)  # the node's first leaf
        ja = depth if a == 0 else ctz(a)
        valid = uturn_node3(Vb, ja, v, k - 1, Ve, R, Sb, Sn, Se, d)
        k += 1
    return valid


@njit_inline
def slots_join(slots, vf, vn, vo, rho, R, po, sub_depth, d):
    """The checks across the join of the tree and the new subtree of depth sub_depth; True when
    the trajectory may keep doubling."""
    Sb, Sn, Vb, Se, Ve = slots
    return uturn_join3(vf, vn, Vb, sub_depth, vo, rho, R, Sn, po, d)
