"""A deterministic demo catalogue: books of every member, demo readers and a few holds.

Tests, scenario scripts, benchmarks and technicians all need the same believable data
without a real library system. Everything comes from `random.Random` seeded per member
(never the global generator), so a member's items do not change when another member is
added, and serial N of a member is always barcode `3` + its code + N + check digit.
The first `STABLE_SERIALS` items of every member are always on the shelf and loanable;
scenario scripts may rely on them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from contract.card_schemes import make_card_number, make_item_barcode
from contract.privacy import card_hash
from hub.rules.registry import Registry
from hub.rules.rules import ItemRecord, ReaderRecord

STABLE_SERIALS = 20  # serials 1..20 of every member: on the shelf, loanable
VALID_UNTIL = date(2036, 12, 31)
EXPIRED_ON = date(2024, 6, 30)

# (title, statement of responsibility, volumes); volumes () means a single volume.
BOOKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("红楼梦", "曹雪芹 著", ("上册", "下册")),
    ("三国演义", "罗贯中 著", ("上册", "下册")),
    ("水浒传", "施耐庵 著", ("上册", "下册")),
    ("西游记", "吴承恩 著", ("上册", "下册")),
    ("儒林外史", "吴敬梓 著", ()),
    ("聊斋志异", "蒲松龄 著", ("一", "二", "三")),
    ("老残游记", "刘鹗 著", ()),
    ("浮生六记", "沈复 著", ()),
    ("人间词话", "王国维 著", ()),
    ("史记", "司马迁 著", ("第一册", "第二册", "第三册", "第四册")),
    ("资治通鉴", "司马光 编著", ("第一册", "第二册", "第三册")),
    ("论语译注", "杨伯峻 译注", ()),
    ("古文观止", "吴楚材、吴调侯 选编", ("上册", "下册")),
    ("唐诗三百首", "蘅塘退士 编", ()),
    ("宋词三百首", "上彊村民 编", ()),
    ("呐喊", "鲁迅 著", ()),
    ("彷徨", "鲁迅 著", ()),
    ("朝花夕拾", "鲁迅 著", ()),
    ("骆驼祥子", "老舍 著", ()),
    ("四世同堂", "老舍 著", ("上", "中", "下")),
    ("茶馆", "老舍 著", ()),
    ("边城", "沈从文 著", ()),
    ("家", "巴金 著", ()),
    ("春", "巴金 著", ()),
    ("秋", "巴金 著", ()),
    ("子夜", "茅盾 著", ()),
    ("雷雨", "曹禺 著", ()),
    ("日出", "曹禺 著", ()),
    ("北京人", "曹禺 著", ()),
    ("围城", "钱锺书 著", ()),
    ("城南旧事", "林海音 著", ()),
    ("京华烟云", "林语堂 著", ("上册", "下册")),
    ("傅雷家书", "傅雷 著", ()),
    ("青春之歌", "杨沫 著", ()),
    ("林海雪原", "曲波 著", ()),
    ("红岩", "罗广斌、杨益言 著", ()),
    ("创业史", "柳青 著", ()),
    ("平凡的世界", "路遥 著", ("第一部", "第二部", "第三部")),
    ("人生", "路遥 著", ()),
    ("白鹿原", "陈忠实 著", ()),
    ("活着", "余华 著", ()),
    ("许三观卖血记", "余华 著", ()),
    ("兄弟", "余华 著", ("上部", "下部")),
    ("红高粱家族", "莫言 著", ()),
    ("生死疲劳", "莫言 著", ()),
    ("蛙", "莫言 著", ()),
    ("尘埃落定", "阿来 著", ()),
    ("长恨歌", "王安忆 著", ()),
    ("穆斯林的葬礼", "霍达 著", ()),
    ("钟鼓楼", "刘心武 著", ()),
    ("芙蓉镇", "古华 著", ()),
    ("我与地坛", "史铁生 著", ()),
    ("黄金时代", "王小波 著", ()),
    ("沉默的大多数", "王小波 著", ()),
    ("受戒", "汪曾祺 著", ()),
    ("人间草木", "汪曾祺 著", ()),
    ("文化苦旅", "余秋雨 著", ()),
    ("秦腔", "贾平凹 著", ()),
    ("一句顶一万句", "刘震云 著", ()),
    ("推拿", "毕飞宇 著", ()),
    ("额尔古纳河右岸", "迟子建 著", ()),
    ("繁花", "金宇澄 著", ()),
    ("人世间", "梁晓声 著", ("上部", "中部", "下部")),
    ("北上", "徐则臣 著", ()),
    ("三体", "刘慈欣 著", ()),
    ("三体Ⅱ·黑暗森林", "刘慈欣 著", ()),
    ("三体Ⅲ·死神永生", "刘慈欣 著", ()),
    ("草房子", "曹文轩 著", ()),
    ("撒哈拉的故事", "三毛 著", ()),
    ("目送", "龙应台 著", ()),
    ("万历十五年", "黄仁宇 著", ()),
    ("乡土中国", "费孝通 著", ()),
    ("中国哲学简史", "冯友兰 著", ()),
    ("美的历程", "李泽厚 著", ()),
    ("城记", "王军 著", ()),
)
EDITIONS: tuple[str, ...] = ("", "", "", "", "插图本", "典藏版", "修订版", "第2版", "大字版")

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红梅淑珍德福海燕晓晨宇欣怡"

# The reader every demo hold is for: the first joint card (home: the Capital Library).
HOLDER_SCHEME = "bj-joint"
HOLDER_NUMBER = make_card_number("bj-joint", 1234, district="10")


@dataclass(frozen=True)
class DemoReader:
    """A demo reader card with its PIN (demo data only: real PINs are never stored plain)."""

    scheme: str
    number: str
    name: str
    pin: str
    state: str
    block_reason: str | None
    expires: date
    home_library: str

    def record(self) -> ReaderRecord:
        """The ledger's view of this reader (everything but the PIN)."""
        return ReaderRecord(
            self.scheme, self.number, self.name, self.state, self.block_reason,
            self.expires, self.home_library,
        )  # fmt: skip

    @property
    def card_hash(self) -> str:
        return card_hash(self.scheme, self.number)


@dataclass(frozen=True)
class DemoHold:
    """An item with a hold for `HOLDER_NUMBER`, to be picked up at `pickup_library`.

    `item_state` "on_loan": someone else still has it (its return routes to the hold);
    "on_hold": it already waits on the pickup library's hold shelf; "in_transit": it is
    on its way there. `reader_hash` is the holder's `card_hash`, as the ledger keys readers.
    """

    barcode: str
    home_library: str
    pickup_library: str
    item_state: str
    reader_hash: str


# (member id, serial, pickup library, item state): serials above STABLE_SERIALS on purpose.
_HOLD_PLAN: tuple[tuple[str, int, str, str], ...] = (
    ("xicheng", 21, "chaoyang", "on_loan"),
    ("dongcheng", 21, "capital", "on_loan"),
    ("capital", 21, "capital", "on_hold"),
    # For the hold greeting and pickup (scenarios/hold_pickup.txt, hold_pickup_pad.txt):
    # two more ready at the Capital Library (capital 21 is lent offline by
    # scenarios/offline_loans_for_staff.txt), and one in transit to Chaoyang.
    ("capital", 22, "capital", "on_hold"),
    ("capital", 23, "capital", "on_hold"),
    ("haidian", 21, "chaoyang", "in_transit"),
)


def item_barcode(registry: Registry, member_id: str, serial: int) -> str:
    """Barcode of a member's item `serial` (1-based), as generate_items makes it."""
    return make_item_barcode(registry.member(member_id).institution_code, serial)


def demo_holds(registry: Registry) -> list[DemoHold]:
    """The demo holds, all for the reader `HOLDER_NUMBER` (a bj-joint card)."""
    holder = card_hash(HOLDER_SCHEME, HOLDER_NUMBER)
    return [
        DemoHold(
            barcode=item_barcode(registry, mid, serial),
            home_library=mid,
            pickup_library=pickup,
            item_state=state,
            reader_hash=holder,
        )
        for mid, serial, pickup, state in _HOLD_PLAN
        if mid in registry.members
    ]


def _title(rng: random.Random) -> str:
    title, credit, volumes = rng.choice(BOOKS)
    volume = f"（{rng.choice(volumes)}）" if volumes else ""
    edition = rng.choice(EDITIONS)
    return f"{title}{volume}{' · ' + edition if edition else ''} / {credit}"


def generate_items(
    registry: Registry, per_member: int = 400, seed: int = 2012
) -> Iterator[ItemRecord]:
    """`per_member` items of every member (the 63 and any extras), member by member.

    Serials 1..STABLE_SERIALS are on the shelf and loanable; later ones are mostly on the
    shelf, about 3 in 100 on loan (to readers outside the demo set), 1 in 200 in transit
    between libraries and 2 in 100 for reading in the library only. The demo holds are applied to their items.
    """
    holds = {(h.home_library, h.barcode): h for h in demo_holds(registry)}
    for member in registry.members.values():
        rng = random.Random(f"alliance-catalogue:{seed}:{member.id}")
        code = member.institution_code
        for serial in range(1, per_member + 1):
            barcode = make_item_barcode(code, serial)
            title = _title(rng)
            roll = rng.random()
            state, loanable, hold_for = "on_shelf", True, None
            if serial > STABLE_SERIALS:
                if roll < 0.03:
                    state = "on_loan"
                elif roll < 0.035:
                    state = "in_transit"
                elif roll < 0.055:
                    loanable = False
            hold = holds.get((member.id, barcode))
            if hold is not None:
                state, loanable, hold_for = hold.item_state, True, hold.reader_hash
            yield ItemRecord(barcode, title, member.id, state, hold_for, loanable)


# (scheme, home library, issuing district for bj-joint): the valid readers of each scheme.
_VALID_HOMES: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType({
    "bj-joint": (
        ("capital", "10"), ("xicheng", "02"), ("chaoyang", "05"), ("dongcheng", "01"),
        ("haidian", "08"), ("fengtai", "06"),
    ),
    "nlc": (("nlc", "10"), ("nlc", "10"), ("nlc", "10"), ("nlc", "10")),
    "univ-public": (("pku-public", "10"), ("pku-public", "10"), ("pku-public", "10")),
    "staff": (("capital", "10"), ("xicheng", "10")),
})  # fmt: skip
# The first reader of each scheme has a fixed name and an easy PIN, for demos and scripts.
_FIRST: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "bj-joint": ("王小明", "123456"),
        "nlc": ("李雷", "1234"),
        "univ-public": ("韩梅梅", "654321"),
        "staff": ("张伟", "888888"),
    }
)
_FIRST_SERIAL: Mapping[str, int] = MappingProxyType(
    {"bj-joint": 1234, "nlc": 1, "univ-public": 1, "staff": 1}
)
_PROBLEMS: tuple[tuple[str, str | None, date], ...] = (
    ("expired", None, EXPIRED_ON),
    ("blocked", "lost", VALID_UNTIL),
    ("blocked", "overdue", VALID_UNTIL),
    ("blocked", "fees", VALID_UNTIL),
)


def _name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def generate_readers(registry: Registry, seed: int = 2012) -> list[DemoReader]:
    """Demo readers of every scheme in the registry: several valid ones (the first of each
    with the fixed name and PIN in `_FIRST`), then for each reader scheme one expired and
    one blocked for each reason (lost, overdue, fees); two technicians (staff)."""
    readers: list[DemoReader] = []
    for sid, scheme in registry.schemes.items():
        rng = random.Random(f"alliance-readers:{seed}:{sid}")
        serial = _FIRST_SERIAL.get(sid, 1)
        homes = _VALID_HOMES.get(sid, (("capital", "10"),))
        default_home = homes[0][0]
        plan: list[tuple[str, str, str | None, date]] = [
            (home, "valid", None, VALID_UNTIL) for home, _ in homes
        ]
        if not scheme.technician:
            plan += [(default_home, state, why, exp) for state, why, exp in _PROBLEMS]
        for index, (home, state, why, expires) in enumerate(plan):
            district = homes[index][1] if index < len(homes) else homes[0][1]
            number = make_card_number(sid, serial, district=district)
            serial += 1
            pin = "".join(str(rng.randrange(10)) for _ in range(scheme.pin_length or 6))
            name = _name(rng)
            if index == 0 and sid in _FIRST:
                name, pin = _FIRST[sid]
            readers.append(DemoReader(sid, number, name, pin, state, why, expires, home))
    return readers
