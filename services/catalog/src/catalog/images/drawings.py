"""One flat drawing per kind of demo product, on a 400 by 400 canvas, in two colours.

Drawn for this project (no third-party artwork), under the project's licence. Each
function takes the object's main colour and a darker one for details, and returns SVG
elements centred on the canvas, standing on y = 330.
"""

from __future__ import annotations

from collections.abc import Callable

Drawing = Callable[[str, str], str]


def _chefs_knife(c: str, d: str) -> str:
    return (
        f'<path d="M70 250 L270 170 Q330 150 340 175 L300 205 Z" fill="#dfe3e8" stroke="{d}"'
        ' stroke-width="4"/>'
        f'<rect x="40" y="238" width="90" height="34" rx="12" fill="{c}"'
        ' transform="rotate(-22 85 255)"/>'
        f'<circle cx="70" cy="262" r="5" fill="{d}"/><circle cx="100" cy="250" r="5" fill="{d}"/>'
    )


def _cast_iron_pan(c: str, d: str) -> str:
    return (
        f'<rect x="250" y="200" width="120" height="26" rx="12" fill="{d}"/>'
        f'<circle cx="170" cy="215" r="105" fill="{c}"/>'
        f'<circle cx="170" cy="215" r="82" fill="{d}" opacity="0.55"/>'
    )


def _pepper_mill(c: str, d: str) -> str:
    return (
        f'<circle cx="200" cy="72" r="16" fill="{d}"/>'
        f'<path d="M165 100 Q200 80 235 100 L228 150 Q245 230 232 330 L168 330 Q155 230 172 150 Z"'
        f' fill="{c}"/><rect x="160" y="150" width="80" height="12" rx="6" fill="{d}"/>'
    )


def _cutting_board(c: str, d: str) -> str:
    return (
        f'<rect x="80" y="110" width="240" height="220" rx="30" fill="{c}"/>'
        f'<circle cx="200" cy="150" r="16" fill="{d}"/>'
        f'<path d="M110 300 L290 300" stroke="{d}" stroke-width="4" opacity="0.4"/>'
    )


def _kettle(c: str, d: str) -> str:
    return (
        f'<path d="M130 330 L145 170 Q200 140 255 170 L270 330 Z" fill="{c}"/>'
        f'<path d="M140 230 Q80 210 60 150" stroke="{c}" stroke-width="16" fill="none"'
        ' stroke-linecap="round"/>'
        f'<path d="M150 165 Q200 70 250 165" stroke="{d}" stroke-width="14" fill="none"/>'
        f'<rect x="185" y="140" width="30" height="16" rx="6" fill="{d}"/>'
    )


def _burr_grinder(c: str, d: str) -> str:
    return (
        f'<path d="M150 120 L250 120 L230 180 L170 180 Z" fill="#eef1f4" stroke="{d}"'
        ' stroke-width="4"/>'
        f'<rect x="140" y="180" width="120" height="150" rx="14" fill="{c}"/>'
        f'<path d="M200 120 L200 90 L270 90" stroke="{d}" stroke-width="10" fill="none"/>'
        f'<circle cx="272" cy="90" r="13" fill="{d}"/>'
        f'<rect x="160" y="250" width="80" height="50" rx="6" fill="{d}" opacity="0.5"/>'
    )


def _tea_tin(c: str, d: str) -> str:
    return (
        f'<rect x="130" y="120" width="140" height="210" rx="16" fill="{c}"/>'
        f'<rect x="122" y="110" width="156" height="40" rx="12" fill="{d}"/>'
        '<rect x="150" y="190" width="100" height="70" rx="8" fill="#fff" opacity="0.85"/>'
        f'<path d="M170 225 Q200 200 230 225" stroke="{d}" stroke-width="6" fill="none"/>'
    )


def _espresso_cup(c: str, d: str) -> str:
    return (
        f'<ellipse cx="200" cy="318" rx="130" ry="18" fill="{d}"/>'
        f'<path d="M120 180 L280 180 L265 290 Q200 320 135 290 Z" fill="{c}"/>'
        f'<path d="M275 200 Q330 205 315 245 Q305 270 270 262" stroke="{c}" stroke-width="14"'
        ' fill="none"/>'
        '<path d="M170 150 Q160 120 180 100 M215 150 Q205 120 225 100" stroke="#9aa3ad"'
        ' stroke-width="6" fill="none" stroke-linecap="round"/>'
    )


def _backpack(c: str, d: str) -> str:
    return (
        f'<path d="M165 100 Q200 60 235 100" stroke="{d}" stroke-width="14" fill="none"/>'
        f'<rect x="110" y="100" width="180" height="230" rx="50" fill="{c}"/>'
        f'<rect x="140" y="220" width="120" height="80" rx="20" fill="{d}"/>'
        f'<rect x="150" y="150" width="100" height="10" rx="5" fill="{d}"/>'
    )


def _camp_lantern(c: str, d: str) -> str:
    return (
        f'<path d="M165 90 Q200 40 235 90" stroke="{d}" stroke-width="10" fill="none"/>'
        f'<rect x="150" y="90" width="100" height="40" rx="10" fill="{c}"/>'
        '<rect x="160" y="130" width="80" height="150" rx="12" fill="#fff3c4"/>'
        '<ellipse cx="200" cy="205" rx="22" ry="40" fill="#ffd25a"/>'
        f'<rect x="140" y="280" width="120" height="50" rx="12" fill="{c}"/>'
        f'<path d="M180 130 L180 280 M220 130 L220 280" stroke="{d}" stroke-width="6"/>'
    )


def _water_bottle(c: str, d: str) -> str:
    return (
        f'<rect x="175" y="60" width="50" height="40" rx="8" fill="{d}"/>'
        f'<path d="M160 100 L240 100 L255 140 L255 320 Q255 330 245 330 L155 330 Q145 330 145 320'
        f' L145 140 Z" fill="{c}"/>'
        '<rect x="145" y="190" width="110" height="60" fill="#fff" opacity="0.3"/>'
    )


def _hammock(c: str, d: str) -> str:
    return (
        f'<rect x="40" y="110" width="14" height="220" rx="6" fill="{d}"/>'
        f'<rect x="346" y="110" width="14" height="220" rx="6" fill="{d}"/>'
        f'<path d="M54 140 Q200 330 346 140 Q200 260 54 140 Z" fill="{c}"/>'
        f'<path d="M54 140 L100 175 M346 140 L300 175" stroke="{d}" stroke-width="4"/>'
    )


def _desk_lamp(c: str, d: str) -> str:
    return (
        f'<ellipse cx="150" cy="320" rx="70" ry="14" fill="{d}"/>'
        f'<path d="M150 315 L200 200 L150 110" stroke="{c}" stroke-width="14" fill="none"'
        ' stroke-linejoin="round"/>'
        f'<path d="M140 90 L290 130 L250 190 Z" fill="{c}"/>'
        '<ellipse cx="270" cy="165" rx="22" ry="10" fill="#ffe27a"'
        ' transform="rotate(-50 270 165)"/>'
        f'<circle cx="200" cy="200" r="10" fill="{d}"/>'
    )


def _notebook(c: str, d: str) -> str:
    return (
        f'<rect x="110" y="80" width="190" height="250" rx="14" fill="{c}"/>'
        f'<rect x="110" y="80" width="28" height="250" rx="10" fill="{d}"/>'
        f'<rect x="250" y="80" width="14" height="250" fill="{d}" opacity="0.6"/>'
        '<rect x="160" y="130" width="70" height="30" rx="4" fill="#fff" opacity="0.8"/>'
    )


def _fountain_pen(c: str, d: str) -> str:
    return (
        '<g transform="rotate(-40 200 200)">'
        f'<rect x="80" y="180" width="200" height="40" rx="18" fill="{c}"/>'
        f'<rect x="150" y="180" width="14" height="40" fill="{d}"/>'
        f'<path d="M280 185 L340 200 L280 215 Z" fill="#d9b24c" stroke="{d}" stroke-width="2"/>'
        f'<rect x="95" y="172" width="70" height="8" rx="4" fill="{d}"/></g>'
    )


def _monitor_stand(c: str, d: str) -> str:
    return (
        f'<rect x="70" y="80" width="260" height="160" rx="12" fill="{d}"/>'
        '<rect x="84" y="94" width="232" height="132" rx="4" fill="#cfe4f7"/>'
        f'<rect x="90" y="250" width="220" height="22" rx="8" fill="{c}"/>'
        f'<rect x="100" y="272" width="22" height="58" fill="{c}"/>'
        f'<rect x="278" y="272" width="22" height="58" fill="{c}"/>'
    )


def _headphones(c: str, d: str) -> str:
    return (
        f'<path d="M100 230 Q100 80 200 80 Q300 80 300 230" stroke="{d}" stroke-width="22"'
        ' fill="none" stroke-linecap="round"/>'
        f'<rect x="70" y="200" width="70" height="120" rx="30" fill="{c}"/>'
        f'<rect x="260" y="200" width="70" height="120" rx="30" fill="{c}"/>'
    )


def _bookshelf_speaker(c: str, d: str) -> str:
    return (
        f'<rect x="120" y="70" width="160" height="260" rx="14" fill="{c}"/>'
        f'<circle cx="200" cy="130" r="28" fill="{d}"/>'
        f'<circle cx="200" cy="240" r="58" fill="{d}"/>'
        f'<circle cx="200" cy="240" r="20" fill="{c}" opacity="0.6"/>'
    )


def _turntable(c: str, d: str) -> str:
    return (
        f'<rect x="60" y="110" width="280" height="220" rx="16" fill="{c}"/>'
        f'<circle cx="180" cy="220" r="90" fill="#22252a"/>'
        f'<circle cx="180" cy="220" r="28" fill="{d}"/>'
        f'<path d="M310 130 L300 250 L240 270" stroke="#c9ced4" stroke-width="8" fill="none"/>'
    )


def _earbuds(c: str, d: str) -> str:
    return (
        f'<rect x="90" y="230" width="220" height="100" rx="48" fill="{d}"/>'
        f'<circle cx="150" cy="170" r="40" fill="{c}"/><rect x="140" y="170" width="20"'
        f' height="80" rx="10" fill="{c}"/>'
        f'<circle cx="250" cy="170" r="40" fill="{c}"/><rect x="240" y="170" width="20"'
        f' height="80" rx="10" fill="{c}"/>'
    )


def _throw_blanket(c: str, d: str) -> str:
    stripes = "".join(
        f'<rect x="80" y="{y}" width="240" height="12" fill="{d}" opacity="0.5"/>'
        for y in (150, 200, 250)
    )
    return (
        f'<rect x="80" y="110" width="240" height="220" rx="20" fill="{c}"/>{stripes}'
        f'<path d="M80 300 Q200 280 320 300 L320 330 L80 330 Z" fill="{d}"/>'
    )


def _ceramic_vase(c: str, d: str) -> str:
    return (
        f'<path d="M170 70 L230 70 L225 110 Q300 170 270 270 Q250 330 200 330 Q150 330 130 270'
        f' Q100 170 175 110 Z" fill="{c}"/>'
        f'<path d="M140 210 Q200 235 262 210" stroke="{d}" stroke-width="8" fill="none"/>'
    )


def _wall_clock(c: str, d: str) -> str:
    ticks = "".join(
        f'<rect x="196" y="92" width="8" height="20" fill="{d}" transform="rotate({a} 200 200)"/>'
        for a in range(0, 360, 30)
    )
    return (
        f'<circle cx="200" cy="200" r="125" fill="{c}"/>'
        f'<circle cx="200" cy="200" r="105" fill="#fff"/>{ticks}'
        f'<path d="M200 200 L200 130 M200 200 L250 225" stroke="{d}" stroke-width="10"'
        ' stroke-linecap="round"/>'
    )


def _linen_cushion(c: str, d: str) -> str:
    return (
        f'<path d="M90 100 Q200 130 310 100 Q280 210 310 320 Q200 290 90 320 Q120 210 90 100 Z"'
        f' fill="{c}"/><circle cx="200" cy="210" r="12" fill="{d}"/>'
    )


def _pruning_shears(c: str, d: str) -> str:
    return (
        '<path d="M200 200 L300 70 L315 85 Z" fill="#d5dae0"/>'
        '<path d="M200 200 L320 100 L300 80 Z" fill="#b8bfc7"/>'
        f'<path d="M200 200 Q130 250 110 330" stroke="{c}" stroke-width="26" fill="none"'
        ' stroke-linecap="round"/>'
        f'<path d="M200 200 Q220 280 190 340" stroke="{c}" stroke-width="26" fill="none"'
        f' stroke-linecap="round"/><circle cx="200" cy="200" r="12" fill="{d}"/>'
    )


def _watering_can(c: str, d: str) -> str:
    return (
        f'<path d="M250 230 L340 130 L352 142 L270 270 Z" fill="{c}"/>'
        f'<rect x="110" y="170" width="150" height="160" rx="18" fill="{c}"/>'
        f'<path d="M130 170 Q185 80 240 170" stroke="{d}" stroke-width="14" fill="none"/>'
        f'<rect x="336" y="118" width="28" height="14" rx="4" fill="{d}"'
        ' transform="rotate(45 350 125)"/>'
    )


def _seed_kit(c: str, d: str) -> str:
    return (
        f'<rect x="120" y="100" width="160" height="230" rx="10" fill="{c}"/>'
        f'<path d="M120 130 L280 130" stroke="{d}" stroke-width="6" stroke-dasharray="10 8"/>'
        '<path d="M200 290 L200 210" stroke="#3f8f4a" stroke-width="8"/>'
        '<ellipse cx="175" cy="215" rx="26" ry="12" fill="#5bb36a"'
        ' transform="rotate(-30 175 215)"/>'
        '<ellipse cx="225" cy="200" rx="26" ry="12" fill="#5bb36a" transform="rotate(30 225 200)"/>'
    )


def _planter(c: str, d: str) -> str:
    leaves = "".join(
        f'<ellipse cx="{x}" cy="{y}" rx="20" ry="60" fill="#4f9e5d"'
        f' transform="rotate({a} {x} {y})"/>'
        for x, y, a in ((160, 140, -30), (200, 120, 0), (240, 140, 30))
    )
    return (
        f"{leaves}"
        f'<path d="M120 200 L280 200 L260 330 L140 330 Z" fill="{c}"/>'
        f'<rect x="110" y="190" width="180" height="26" rx="8" fill="{d}"/>'
    )


def _yoga_mat(c: str, d: str) -> str:
    return (
        f'<rect x="60" y="250" width="280" height="70" rx="10" fill="{c}"/>'
        f'<circle cx="110" cy="220" r="70" fill="{c}"/>'
        f'<circle cx="110" cy="220" r="45" fill="{d}"/>'
        f'<circle cx="110" cy="220" r="22" fill="{c}"/>'
    )


def _kettlebell(c: str, d: str) -> str:
    return (
        f'<path d="M140 180 Q130 80 200 80 Q270 80 260 180" stroke="{d}" stroke-width="28"'
        f' fill="none"/><circle cx="200" cy="240" r="95" fill="{c}"/>'
        '<rect x="170" y="230" width="60" height="34" rx="6" fill="#fff" opacity="0.8"/>'
    )


def _jump_rope(c: str, d: str) -> str:
    return (
        f'<path d="M120 110 Q40 330 200 320 Q360 330 280 110" stroke="{d}" stroke-width="8"'
        ' fill="none"/>'
        f'<rect x="100" y="60" width="36" height="90" rx="16" fill="{c}"/>'
        f'<rect x="264" y="60" width="36" height="90" rx="16" fill="{c}"/>'
    )


def _foam_roller(c: str, d: str) -> str:
    ridges = "".join(
        f'<rect x="{x}" y="150" width="12" height="140" fill="{d}" opacity="0.45"/>'
        for x in range(100, 300, 32)
    )
    return (
        f'<rect x="70" y="150" width="260" height="140" rx="20" fill="{c}"/>{ridges}'
        f'<ellipse cx="330" cy="220" rx="30" ry="70" fill="{d}"/>'
    )


def _wooden_puzzle(c: str, d: str) -> str:
    return (
        f'<path d="M100 120 L180 120 Q170 80 200 80 Q230 80 220 120 L300 120 L300 200 Q340 190'
        f' 340 220 Q340 250 300 240 L300 320 L100 320 Z" fill="{c}"/>'
        f'<path d="M100 220 L200 220 L200 320" stroke="{d}" stroke-width="6" fill="none"/>'
    )


def _board_game(c: str, d: str) -> str:
    return (
        f'<rect x="70" y="150" width="260" height="170" rx="12" fill="{c}"/>'
        f'<rect x="70" y="150" width="260" height="40" rx="12" fill="{d}"/>'
        '<rect x="230" y="80" width="70" height="70" rx="12" fill="#fff" stroke="#333"'
        ' stroke-width="4"/><circle cx="250" cy="100" r="7" fill="#333"/>'
        '<circle cx="280" cy="130" r="7" fill="#333"/><circle cx="265" cy="115" r="7" fill="#333"/>'
    )


def _kite(c: str, d: str) -> str:
    return (
        f'<path d="M200 50 L290 160 L200 290 L110 160 Z" fill="{c}"/>'
        f'<path d="M200 50 L200 290 M110 160 L290 160" stroke="{d}" stroke-width="5"/>'
        f'<path d="M200 290 Q170 320 200 340 Q230 360 210 380" stroke="{d}" stroke-width="4"'
        ' fill="none"/>'
    )


def _building_blocks(c: str, d: str) -> str:
    return (
        f'<rect x="90" y="220" width="110" height="110" rx="8" fill="{c}"/>'
        f'<rect x="210" y="220" width="110" height="110" rx="8" fill="{d}"/>'
        f'<rect x="150" y="100" width="110" height="110" rx="8" fill="{c}" opacity="0.8"/>'
        '<circle cx="145" cy="275" r="22" fill="#fff" opacity="0.8"/>'
        '<rect x="240" y="250" width="50" height="50" fill="#fff" opacity="0.8"/>'
        '<path d="M205 130 L235 180 L175 180 Z" fill="#fff" opacity="0.8"/>'
    )


def _tote_bag(c: str, d: str) -> str:
    return (
        f'<path d="M150 160 Q150 70 200 70 Q250 70 250 160" stroke="{d}" stroke-width="12"'
        ' fill="none"/>'
        f'<path d="M100 150 L300 150 L320 330 L80 330 Z" fill="{c}"/>'
    )


def _weekender(c: str, d: str) -> str:
    return (
        f'<path d="M150 170 Q150 110 200 110 Q250 110 250 170" stroke="{d}" stroke-width="14"'
        ' fill="none"/>'
        f'<rect x="60" y="160" width="280" height="170" rx="60" fill="{c}"/>'
        f'<path d="M90 200 L310 200" stroke="{d}" stroke-width="6"/>'
        f'<rect x="60" y="240" width="280" height="16" fill="{d}" opacity="0.5"/>'
    )


def _laptop_sleeve(c: str, d: str) -> str:
    return (
        f'<rect x="70" y="110" width="260" height="220" rx="24" fill="{c}"/>'
        f'<path d="M90 140 L310 140" stroke="{d}" stroke-width="6" stroke-dasharray="14 6"/>'
        f'<rect x="296" y="128" width="16" height="30" rx="4" fill="{d}"/>'
    )


def _crossbody_bag(c: str, d: str) -> str:
    return (
        f'<path d="M120 200 L220 40 L300 200" stroke="{d}" stroke-width="10" fill="none"/>'
        f'<rect x="100" y="190" width="220" height="140" rx="30" fill="{c}"/>'
        f'<path d="M100 230 Q210 290 320 230 L320 210 Q210 260 100 210 Z" fill="{d}"/>'
        '<circle cx="210" cy="262" r="9" fill="#e6c36a"/>'
    )


# By the noun's slug, as the demo catalog names its products ("Classic Chef's Knife").
DRAWINGS: dict[str, Drawing] = {
    "chefs-knife": _chefs_knife,
    "cast-iron-pan": _cast_iron_pan,
    "pepper-mill": _pepper_mill,
    "cutting-board": _cutting_board,
    "pour-over-kettle": _kettle,
    "burr-grinder": _burr_grinder,
    "tea-tin": _tea_tin,
    "espresso-cup": _espresso_cup,
    "trail-backpack": _backpack,
    "camp-lantern": _camp_lantern,
    "water-bottle": _water_bottle,
    "hammock": _hammock,
    "desk-lamp": _desk_lamp,
    "notebook": _notebook,
    "fountain-pen": _fountain_pen,
    "monitor-stand": _monitor_stand,
    "headphones": _headphones,
    "bookshelf-speaker": _bookshelf_speaker,
    "turntable": _turntable,
    "earbuds": _earbuds,
    "throw-blanket": _throw_blanket,
    "ceramic-vase": _ceramic_vase,
    "wall-clock": _wall_clock,
    "linen-cushion": _linen_cushion,
    "pruning-shears": _pruning_shears,
    "watering-can": _watering_can,
    "seed-kit": _seed_kit,
    "planter": _planter,
    "yoga-mat": _yoga_mat,
    "kettlebell": _kettlebell,
    "jump-rope": _jump_rope,
    "foam-roller": _foam_roller,
    "wooden-puzzle": _wooden_puzzle,
    "board-game": _board_game,
    "kite": _kite,
    "building-blocks": _building_blocks,
    "tote-bag": _tote_bag,
    "weekender": _weekender,
    "laptop-sleeve": _laptop_sleeve,
    "crossbody-bag": _crossbody_bag,
}
