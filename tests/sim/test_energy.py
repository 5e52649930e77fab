"""The radio state machine, battery ledger and the radio energy billed to requests, against closed forms."""
from __future__ import annotations

import pytest

from sim.energy import COMPONENTS, FleetEnergy
from sim.catalogue import DEVICES, LINKS
from sim.recorder import Recorder

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


def _billed_phone() -> tuple[FleetEnergy, Recorder]:
    energy, recorder = _one_phone(), Recorder(16)
    recorder.reserve(2)
    energy.recorder = recorder
    return energy, recorder


def test_overlapping_tails_bill_the_first_request_up_to_the_second_start_and_the_second_in_full():
    energy, recorder = _billed_phone()
    energy.radio_start(0, 0.0, 0)
    first = energy.radio_end(0, 1.0, 1000.0, 0.74, True, 0)
    energy.radio_start(0, 3.0, 1)  # 2 s into the first request's tail
    second = energy.radio_end(0, 4.0, 1000.0, 1.0, True, 1)
    energy.close(100.0)
    promotion = LTE.promotion_s * LTE.promotion_w
    billed = recorder.energy_radio_j[:2]
    assert billed[0] == pytest.approx(promotion + first + 2.0 * LTE.tail_w, rel=1e-6)
    assert billed[1] == pytest.approx(second + LTE.tail_s * LTE.tail_w, rel=1e-6)
    # every radio joule of the ledger went to one of the two requests
    radio = sum(energy.spent[c][0] for c in ("radio_tx", "radio_rx", "radio_tail"))
    assert float(billed.sum(dtype=float)) == pytest.approx(radio, rel=1e-6)


def test_the_end_of_the_run_cuts_the_last_tail_and_bills_what_ran():
    energy, recorder = _billed_phone()
    energy.radio_start(0, 0.0, 0)
    active = energy.radio_end(0, 1.0, 1000.0, 0.74, True, 0)
    energy.close(5.0)  # 4 s of the 11.6 s tail
    assert recorder.energy_radio_j[0] == pytest.approx(LTE.promotion_s * LTE.promotion_w + active + 4.0 * LTE.tail_w,
                                                       rel=1e-6)


def test_a_federated_transfer_keeps_its_own_tail_in_the_ledger_only():
    energy, recorder = _billed_phone()
    energy.radio_start(0, 0.0, 0)
    active = energy.radio_end(0, 1.0, 1000.0, 0.74, True, 0)
    energy.radio_start(0, 4.0)  # a model download (no request row) 3 s into the request's tail
    energy.radio_end(0, 6.0, 1e6, 2.0, False)
    energy.close(100.0)
    assert recorder.energy_radio_j[0] == pytest.approx(LTE.promotion_s * LTE.promotion_w + active + 3.0 * LTE.tail_w,
                                                       rel=1e-6)
    assert recorder.energy_radio_j[1] == 0.0
    assert energy.spent["radio_tail"][0] == pytest.approx((3.0 + LTE.tail_s) * LTE.tail_w)


def test_a_transfer_that_ends_while_another_is_active_leaves_the_tail_to_the_last_one():
    energy, recorder = _billed_phone()
    energy.radio_start(0, 0.0, 0)
    energy.radio_start(0, 0.5, 1)
    first = energy.radio_end(0, 1.0, 1000.0, 1.0, True, 0)  # the radio stays active: no tail yet
    second = energy.radio_end(0, 2.0, 1000.0, 1.5, True, 1)
    energy.close(100.0)
    assert recorder.energy_radio_j[0] == pytest.approx(LTE.promotion_s * LTE.promotion_w + first, rel=1e-6)
    assert recorder.energy_radio_j[1] == pytest.approx(second + LTE.tail_s * LTE.tail_w, rel=1e-6)
