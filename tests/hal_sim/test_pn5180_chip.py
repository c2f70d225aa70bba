"""The PN5180 emulator's host interface and air side, driven frame by frame."""

from __future__ import annotations

from hal_sim.iso15693_tag import Iso15693Tag, Pad, crc16
from hal_sim.pn5180_chip import (
    COLLISION,
    IRQ_STATUS,
    RX_IRQ,
    RX_STATUS,
    TIMER1_IRQ,
    EmulatedPN5180,
)

UID_A = bytes.fromhex("E004010000000011")
UID_B = bytes.fromhex("E004010000000021")


def frame(chip: EmulatedPN5180, data: list[int]) -> list[int]:
    while chip.busy.value:
        pass
    return chip.xfer2(data)


def read_reg(chip: EmulatedPN5180, reg: int) -> int:
    frame(chip, [0x04, reg])
    return int.from_bytes(bytes(frame(chip, [0xFF] * 4)), "little")


def transceive_setup(chip: EmulatedPN5180) -> None:
    frame(chip, [0x11, 0x0D, 0x8D])
    frame(chip, [0x16, 0x00])
    frame(chip, [0x00, 0x00, 0x03, 0, 0, 0])


def test_tag_crc_check_value() -> None:
    assert crc16(b"123456789") == 0x906E


def test_busy_goes_high_after_each_frame_and_a_frame_sent_while_busy_is_dropped() -> None:
    chip = EmulatedPN5180(busy_reads=3)
    chip.xfer2([0x00, 0x18, 1, 2, 3, 4])
    assert chip.busy.value == 1
    chip.xfer2([0x00, 0x18, 9, 9, 9, 9])  # host ignored BUSY
    assert chip.violations == 1
    while chip.busy.value:
        pass
    assert read_reg(chip, 0x18) == 0x04030201  # little-endian, second write lost


def test_register_masks() -> None:
    chip = EmulatedPN5180()
    frame(chip, [0x00, 0x01, 0xF0, 0, 0, 0])
    frame(chip, [0x01, 0x01, 0x0F, 0, 0, 0x80])
    frame(chip, [0x02, 0x01, 0x3C, 0xFF, 0xFF, 0xFF])
    assert read_reg(chip, 0x01) == 0x8000_003C  # (0xF0 | 0x0F) & 0x3C, top byte kept


def test_one_tag_answers_with_crc_stripped_two_collide() -> None:
    pad = Pad()
    chip = EmulatedPN5180(pad)
    transceive_setup(chip)
    pad.place(Iso15693Tag(UID_A))
    frame(chip, [0x09, 0x00, 0x26, 0x01, 0x00])
    assert read_reg(chip, IRQ_STATUS) & RX_IRQ
    status = read_reg(chip, RX_STATUS)
    assert status & 0x1FF == 10 and not status & COLLISION
    frame(chip, [0x0A, 0x00])
    assert bytes(frame(chip, [0xFF] * 10)) == b"\x00\x00" + UID_A[::-1]
    frame(chip, [0x00, 0x03, 0xFF, 0xFF, 0x0F, 0x00])
    pad.place(Iso15693Tag(UID_B))
    frame(chip, [0x09, 0x00, 0x26, 0x01, 0x00])
    assert read_reg(chip, RX_STATUS) & COLLISION and chip.slots_with_collision == 1


def test_eof_only_slots_follow_the_uid_nibbles() -> None:
    pad = Pad()
    chip = EmulatedPN5180(pad)
    transceive_setup(chip)
    pad.place(Iso15693Tag(UID_A), Iso15693Tag(UID_B))  # slots 1 and 1: low nibble 1
    frame(chip, [0x09, 0x00, 0x06, 0x01, 0x00])  # 16 slots, slot 0: silence
    assert read_reg(chip, IRQ_STATUS) & TIMER1_IRQ
    frame(chip, [0x02, 0x18, 0x3F, 0xFB, 0xFF, 0xFF])  # TX_CONFIG masked: EOF only
    frame(chip, [0x09, 0x00])
    assert read_reg(chip, RX_STATUS) & COLLISION


def test_quiet_survives_a_short_field_gap_only() -> None:
    now = [0.0]
    pad = Pad()
    chip = EmulatedPN5180(pad, clock=lambda: now[0])
    tag = Iso15693Tag(UID_A)
    pad.place(tag)
    transceive_setup(chip)
    tag.quiet = True
    frame(chip, [0x17, 0x00])
    now[0] += 0.001
    frame(chip, [0x16, 0x00])
    assert tag.quiet
    frame(chip, [0x17, 0x00])
    now[0] += 0.006
    frame(chip, [0x16, 0x00])
    assert not tag.quiet
