"""Lab 6, part 1: sequence numbers modulo 2^32 (RFC 9293 §3.4, RFC 1982's serial numbers).

Every test builds numbers close to the wrap from the variant (a hidden variant moves them),
and states each fact as one numbered step: the value your Seq gave, and the one wanted."""

from __future__ import annotations

from lab06_bench import MOD, Checks, units, wrap_isn

HALF = 2**31


def bench(variant, title="Seq"):
    return Checks(title, variant), units().tcp_seq


def test_seq_reduces_any_int_modulo_2_to_the_32(variant):
    """Seq(n) keeps n modulo 2^32: values past 2^32 and negative ones wrap."""
    c, S = bench(variant)
    near = wrap_isn(variant)
    c.check(f"Seq({near}).value", lambda: S(near).value, near)
    c.check(f"Seq({near + MOD}).value", lambda: S(near + MOD).value, near)
    c.check(f"Seq({near - MOD}).value", lambda: S(near - MOD).value, near)
    c.check("Seq(-1).value", lambda: S(-1).value, MOD - 1)


def test_adding_past_2_to_the_32_wraps_around(variant):
    """seq + n is n bytes later, modulo 2^32."""
    c, S = bench(variant)
    near = wrap_isn(variant)
    gap = MOD - near  # from `near`, this many bytes reach 0
    c.check(f"(Seq({near}) + {gap}).value", lambda: (S(near) + gap).value, 0)
    c.check(f"(Seq({near}) + {gap + 1460}).value", lambda: (S(near) + gap + 1460).value, 1460)
    c.check(f"(Seq({near}) + 0).value", lambda: (S(near) + 0).value, near)


def test_subtracting_an_int_wraps_below_zero(variant):
    """seq - n is n bytes earlier, modulo 2^32; the result is a Seq, not an int."""
    c, S = bench(variant)
    small = variant.peer_isn % 1000
    c.check(f"(Seq({small}) - {small + 1}).value", lambda: (S(small) - (small + 1)).value,
            MOD - 1)
    c.check(f"Seq({small}) - {small + 1} is a Seq",
            lambda: isinstance(S(small) - (small + 1), S), True)


def test_adding_makes_a_new_number_and_leaves_the_old_one_alone(variant):
    """Seq values are immutable: arithmetic returns a new one."""
    c, S = bench(variant)
    a = c.run("a = Seq(peer_isn)", lambda: S(variant.peer_isn))
    c.check("(a + 1).value", lambda: (a + 1).value, (variant.peer_isn + 1) % MOD)
    c.check("a.value afterwards", lambda: a.value, variant.peer_isn)


def test_the_distance_between_two_numbers_crosses_the_wrap(variant):
    """Seq - Seq is the signed distance, positive when the left one is ahead."""
    c, S = bench(variant)
    near = wrap_isn(variant)
    after = (near + 3000) % MOD  # 3000 bytes later: past the wrap
    c.check(f"Seq({after}) - Seq({near})", lambda: S(after) - S(near), 3000)
    c.check(f"Seq({near}) - Seq({after})", lambda: S(near) - S(after), -3000)
    c.check(f"Seq({near}) - Seq({near})", lambda: S(near) - S(near), 0)


def test_distance_agrees_with_the_minus_operator(variant):
    """a.distance(b) == a - b, whatever the numbers."""
    c, S = bench(variant)
    rng = variant.rng
    for _ in range(5):
        a, d = rng.randrange(MOD), rng.randrange(-HALF + 1, HALF)
        b = (a - d) % MOD
        c.check(f"Seq({a}).distance(Seq({b}))", lambda a=a, b=b: S(a).distance(S(b)), d)


def test_the_largest_distances_either_way_are_2_to_the_31_less_one(variant):
    """Numbers 2^31 - 1 apart still compare the right way round; the distance is signed."""
    c, S = bench(variant)
    a = variant.peer_isn
    b = (a + HALF - 1) % MOD
    c.check(f"Seq({b}) - Seq({a})", lambda: S(b) - S(a), HALF - 1)
    c.check(f"Seq({a}) - Seq({b})", lambda: S(a) - S(b), -(HALF - 1))
    c.check(f"Seq({a}) < Seq({b})", lambda: S(a) < S(b), True)
    c.check(f"Seq({b}) < Seq({a})", lambda: S(b) < S(a), False)


def test_a_number_just_past_the_wrap_is_ahead(variant):
    """Serial-number order: 1 comes after 2^32 - 1."""
    c, S = bench(variant)
    before, after = MOD - 1 - variant.peer_isn % 100, variant.peer_isn % 100
    c.check(f"Seq({after}) > Seq({before})", lambda: S(after) > S(before), True)
    c.check(f"Seq({before}) < Seq({after})", lambda: S(before) < S(after), True)
    c.check(f"Seq({after}) < Seq({before})", lambda: S(after) < S(before), False)
    c.check(f"Seq({before}) > Seq({after})", lambda: S(before) > S(after), False)


def test_less_or_equal_and_greater_or_equal_include_equality(variant):
    """<= and >= hold for equal numbers; < and > do not."""
    c, S = bench(variant)
    x = wrap_isn(variant)
    c.check(f"Seq({x}) <= Seq({x})", lambda: S(x) <= S(x), True)
    c.check(f"Seq({x}) >= Seq({x})", lambda: S(x) >= S(x), True)
    c.check(f"Seq({x}) < Seq({x})", lambda: S(x) < S(x), False)
    c.check(f"Seq({x}) > Seq({x})", lambda: S(x) > S(x), False)
    y = (x + 10) % MOD
    c.check(f"Seq({y}) >= Seq({x})", lambda: S(y) >= S(x), True)
    c.check(f"Seq({y}) <= Seq({x})", lambda: S(y) <= S(x), False)


def test_comparisons_agree_with_the_modular_distance(variant):
    """For 300 pairs drawn from the variant, every operator agrees with the distance."""
    c, S = bench(variant)
    rng = variant.rng
    for _ in range(300):
        a, d = rng.randrange(MOD), rng.randrange(-HALF + 1, HALF)
        x, y = S(a), S(a) + d
        got = (y - x, x < y, x <= y, x == y, x >= y, x > y)
        wanted = (d, d > 0, d >= 0, d == 0, d <= 0, d < 0)
        if got != wanted:
            c.check(f"x = Seq({a}), y = x + {d}: (y - x, x<y, x<=y, x==y, x>=y, x>y)",
                    lambda got=got: got, wanted)
    c.log("300 pairs: every comparison agreed")


def test_equal_values_are_equal_and_hash_alike(variant):
    """Seq(n) == Seq(n + 2^32), and a set holds them once."""
    c, S = bench(variant)
    n = variant.peer_isn
    c.check(f"Seq({n}) == Seq({n + MOD})", lambda: S(n) == S(n + MOD), True)
    c.check(f"Seq({n}) != Seq({n + 1})", lambda: S(n) != S(n + 1), True)
    c.check(f"len({{Seq({n}), Seq({n + MOD})}})", lambda: len({S(n), S(n + MOD)}), 1)


def test_a_sequence_number_is_never_equal_to_a_plain_int(variant):
    """Mixing a Seq with an int is a bug: == says False and < raises."""
    c, S = bench(variant)
    n = variant.peer_isn
    c.check(f"Seq({n}) == {n}", lambda: S(n) == n, False)
    c.check_raises(f"Seq({n}) < {n + 1}", lambda: S(n) < n + 1, (TypeError, AttributeError))


def test_in_window_crosses_the_wrap(variant):
    """in_window(start, size): start <= seq < start + size, even when the window spans 0."""
    c, S = bench(variant)
    start = wrap_isn(variant)
    size = 8000
    inside = (start + 5000) % MOD  # past 2^32
    c.check(f"Seq({inside}).in_window(Seq({start}), {size})",
            lambda: S(inside).in_window(S(start), size), True)
    c.check(f"Seq({start}).in_window(Seq({start}), {size})",
            lambda: S(start).in_window(S(start), size), True)
    end = (start + size) % MOD
    c.check(f"Seq({end}).in_window(Seq({start}), {size})",
            lambda: S(end).in_window(S(start), size), False)
    below = (start - 1) % MOD
    c.check(f"Seq({below}).in_window(Seq({start}), {size})",
            lambda: S(below).in_window(S(start), size), False)


def test_an_empty_window_holds_nothing(variant):
    """With size 0, not even start is in the window (RFC 9293 §3.10.7.4's zero window)."""
    c, S = bench(variant)
    start = variant.peer_isn
    c.check(f"Seq({start}).in_window(Seq({start}), 0)",
            lambda: S(start).in_window(S(start), 0), False)
