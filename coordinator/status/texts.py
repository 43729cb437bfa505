"""The words of incident SMS: what failed, said as an official would say it, in at most two SMS.

Every text fits two UCS-2 segments (134 units) with its diacritics; when it does not, it goes
without them (GSM-7: 306 characters in two segments), and only then is the endpoint's name cut.
"""
from __future__ import annotations

from coordinator.sms.encoding import cost
from coordinator.text import strip_diacritics

MAX_SEGMENTS = 2

_PROTOCOL = {"sip": "SIP", "h323": "H.323", "webrtc": "web", "other": ""}

# (layer) -> words, with {p} the protocol's name.
_LAYER_WORDS = {
    "timeout": "không trả lời {p}",
    "refused": "từ chối kết nối {p}",
    "sip_error": "báo lỗi SIP",
    "http_error": "trang web báo lỗi",
    "dns": "không tìm thấy tên miền",
    "tls": "lỗi chứng chỉ TLS",
    "network": "lỗi mạng",
    "unsupported": "không thăm dò được",
}

TIER_WORDS = {"central": "TW", "province": "tỉnh", "district": "huyện", "commune": "xã"}


def failure_words(cause: str, layer: str, code: int | None, protocol: str) -> str:
    """"không trả lời SIP", "từ chối kết nối H.323", "báo lỗi SIP 503", "cán bộ báo mất kết nối"."""
    if cause == "operator":
        return "cán bộ kỹ thuật báo mất kết nối"
    words = _LAYER_WORDS.get(layer, "mất kết nối")
    words = words.format(p=_PROTOCOL.get(protocol or "", "")).strip()
    if code and layer in ("sip_error", "http_error"):
        words += f" {code}"
    return words


def fit(text: str, *, shorten: str = "") -> str:
    """`text` as is if it fits MAX_SEGMENTS, else without diacritics; if still too long, the name
    `shorten` (part of the text) is cut until it fits."""
    if cost(text).segments <= MAX_SEGMENTS:
        return text
    plain = strip_diacritics(text)
    if cost(plain).segments <= MAX_SEGMENTS or not shorten:
        return plain
    name = strip_diacritics(shorten)
    for keep in range(len(name) - 1, 3, -1):
        candidate = plain.replace(name, name[:keep].rstrip() + "...", 1)
        if cost(candidate).segments <= MAX_SEGMENTS:
            return candidate
    return plain


def incident_text(*, hhmm: str, endpoint: str, cause: str, layer: str, code: int | None, protocol: str,
                  support: str = "") -> str:
    """To the endpoint's own technical contacts, once per incident."""
    what = failure_words(cause, layer, code, protocol)
    named = endpoint if endpoint.lower().startswith("điểm cầu") else f"điểm cầu {endpoint}"
    text = f"SỰ CỐ {hhmm}: {named} {what}. Đề nghị kiểm tra ngay.{support}"
    return fit(text, shorten=endpoint)


def tier_summary(by_tier: dict[str, int]) -> str:
    """"12 huyện, 113 xã" in tier order."""
    order = ("central", "province", "district", "commune")
    parts = [f"{by_tier[t]} {TIER_WORDS.get(t, t)}" for t in order if by_tier.get(t)]
    parts += [f"{n} {t}" for t, n in by_tier.items() if t not in order and n]
    return ", ".join(parts)


def digest_text(*, hhmm: str, place: str, total: int, by_tier: dict[str, int], link: str) -> str:
    """To a province's focal contacts (or the national operators), once per escalation window:
    "SỰ CỐ 08:35 Hà Nội: 125 điểm cầu mất kết nối (12 huyện, 113 xã), xem: <link>"."""
    tiers = tier_summary(by_tier)
    text = f"SỰ CỐ {hhmm} {place}: {total} điểm cầu mất kết nối" + (f" ({tiers})" if tiers else "") + f", xem: {link}"
    return fit(text, shorten=place)


def overdue_text(*, hhmm: str, minutes: int, place: str, endpoints: list[str], total: int, link: str) -> str:
    """The escalation of incidents nobody acknowledged in time, to the next level up (once):
    "CHƯA AI NHẬN XỬ LÝ 08:40: sự cố điểm cầu X (Khánh Hòa) quá 5 phút chưa có người nhận. Xem: <link>"."""
    if total == 1:
        name = endpoints[0]
        named = name if name.lower().startswith("điểm cầu") else f"điểm cầu {name}"
        text = f"CHƯA AI NHẬN XỬ LÝ {hhmm}: sự cố {named} ({place}) quá {minutes} phút chưa có người nhận. Xem: {link}"
        return fit(text, shorten=name)
    names = ", ".join(endpoints[:2]) + ("…" if total > 2 else "")
    text = (f"CHƯA AI NHẬN XỬ LÝ {hhmm}: {total} sự cố ({place}) quá {minutes} phút chưa có người nhận: {names}; "
            f"xem: {link}")
    return fit(text, shorten=names)
