"""The radio state machine and battery ledger against their closed forms."""
from __future__ import annotations

import pytest

from sim.energy import COMPONENTS, FleetEnergy
from sim.catalogue import DEVICES, LINKS

LTE = LINKS["lte"]
PHONE = DEVICES["smartphone"]


def _one_phone(battery=None) -> FleetEnergy:
    return FleetEnergy([PHONE], [LTE], [battery])


def test_isolated_upload_pays_promotion_transfer_and_full_tail():
    energy = _one_phone()
    delay, promotion = energy.radio_start(0, 100.0)
    assert delay == LTE.promotion_s
    nbytes, seconds = 1500.0, 0.01
    energy.radio_end(0, 100.0 + delay + seconds, nbytes, seconds, True)
    energy.close(1000.0)
    closed_form = (LTE.promotion_s * LTE.promotion_w + LTE.a_up_w_per_mbps * nbytes * 8e-6
                   + LTE.base_w * seconds + LTE.tail_s * LTE.tail_w)
    radio = sum(energy.spent[c][0] for c in ("radio_tx", "radio_rx", "radio_tail"))
    assert radio == pytest.approx(closed_form, rel=1e-12)
    assert energy.spent["radio_tail"][0] == pytest.approx(LTE.tail_s * LTE.tail_w)


def test_back_to_back_uploads_pay_one_promotion_and_one_tail():
    energy = _one_phone()
    energy.radio_start(0, 0.0)
    energy.radio_end(0, 1.0, 1000.0, 0.74, True)
    delay, promotion = energy.radio_start(0, 3.0)  # inside the 11.6 s tail
    assert (delay, promotion) == (0.0, 0.0)
    energy.radio_end(0, 4.0, 1000.0, 1.0, True)
    energy.close(100.0)
    # the first tail is cut short after 2 s by the second transfer; the second tail runs in full
    assert energy.spent["radio_tail"][0] == pytest.approx((2.0 + LTE.tail_s) * LTE.tail_w)


def test_battery_empties_at_the_closed_form_instant():
    battery = 1000.0
    energy = _one_phone(battery)
    assert energy.alive(0, 10.0)
    energy.compute(0, 100.0, 10.0)  # (active - idle) * 100 s
    left = battery - (PHONE.active_w - PHONE.idle_w) * 100.0
    death = left / PHONE.idle_w
    assert energy.alive(0, death * 0.999)
    assert not energy.alive(0, death * 1.001)
    assert energy.death_s[0] == pytest.approx(death)
    energy.close(10 * death)
    total = sum(energy.spent[c][0] for c in COMPONENTS)
    assert total == pytest.approx(battery, rel=1e-12)  # everything spent, and nothing after death
