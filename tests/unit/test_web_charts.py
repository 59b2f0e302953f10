"""The web app's server-side SVG: TopoJSON decoding (delta-encoded quantized arcs, the
transform, reversed arcs, rings joined once), the projected maps shipped with the project,
colour classes and their legend, and charts that name themselves and escape what they show."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from services.web import charts, maps

SQUARE = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.25], "translate": [100.0, -10.0]},
    "objects": {"x": {"type": "GeometryCollection", "geometries": [
        {"type": "Polygon", "arcs": [[0, 1]], "properties": {"code": "A"}},
        {"type": "MultiPolygon", "arcs": [[[~1, 2]]], "id": "B"},
    ]}},
    # arc 0: (0,0) -> (2,0) -> (2,4); arc 1: (2,4) -> (0,4) -> (0,0); arc 2: (2,4)... back to (0,0) via (4,4),(4,0)
    "arcs": [[[0, 0], [2, 0], [0, 4]], [[2, 4], [-2, 0], [0, -4]], [[0, 0], [4, 0], [0, -4], [-4, 0]]],
}


def test_quantized_arcs_are_delta_decoded_then_transformed() -> None:
    arcs = maps.decode_arcs(SQUARE)
    assert arcs[0] == [(100.0, -10.0), (101.0, -10.0), (101.0, -9.0)]
    assert arcs[1] == [(101.0, -9.0), (100.0, -9.0), (100.0, -10.0)]


def test_arcs_without_a_transform_are_taken_as_they_are() -> None:
    assert maps.decode_arcs({"arcs": [[[1.5, 2.5], [3, 4]]]}) == [[(1.5, 2.5), (3.0, 4.0)]]


def test_a_ring_joins_its_arcs_keeping_each_shared_point_once() -> None:
    arcs = maps.decode_arcs(SQUARE)
    ring = maps.ring_points([0, 1], arcs)
    assert ring == [(100.0, -10.0), (101.0, -10.0), (101.0, -9.0), (100.0, -9.0), (100.0, -10.0)]
    assert ring[0] == ring[-1]


def test_a_negative_index_walks_the_arc_backwards() -> None:
    arcs = maps.decode_arcs(SQUARE)
    assert maps.ring_points([~1], arcs) == [(100.0, -10.0), (100.0, -9.0), (101.0, -9.0)]


def test_features_are_keyed_by_code_or_id_with_their_polygons() -> None:
    found = maps.features(SQUARE, "x")
    assert set(found) == {"A", "B"}
    assert len(found["A"]["polygons"]) == 1 and len(found["A"]["polygons"][0][0]) == 5
    assert len(found["B"]["polygons"]) == 1


def test_the_shipped_boundaries_hold_every_province_and_kab_kota() -> None:
    provinces = maps.load("provinsi")
    kabkota = maps.load("kabkota")
    assert len(provinces) == 38 and "32" in provinces
    assert len(kabkota) == 514
    assert all(f["properties"]["province"] == code[:2] for code, f in kabkota.items())
    lng, lat = provinces["32"]["polygons"][0][0][0]
    assert 105 < lng < 109 and -8 < lat < -5  # Jawa Barat, in degrees


def test_the_national_map_draws_38_provinces_inside_its_view_box() -> None:
    geometry = maps.national()
    assert len(geometry.shapes) == 38 and all(s.d for s in geometry.shapes)
    assert geometry.width == 2000 and 600 < geometry.height < 900  # Indonesia is wide
    numbers = [int(n) for n in re.findall(r"M(\d+) (\d+)", "".join(s.d for s in geometry.shapes)) for n in n]
    assert max(numbers) <= geometry.width


def test_a_province_map_draws_its_kab_kota_only() -> None:
    jabar = maps.province("32")
    assert len(jabar.shapes) == 27
    assert {s.code for s in jabar.shapes} >= {"32.73", "32.04"}
    assert maps.province("99").shapes == ()


def test_projection_puts_north_up_and_scales_longitude_by_the_latitude() -> None:
    square = {"A": [[[(100.0, 0.0), (101.0, 0.0), (101.0, 1.0), (100.0, 1.0), (100.0, 0.0)]]]}
    geometry = maps.project(square, width=104, pad=2)
    assert geometry.height == 104  # near the equator a degree is as wide as it is tall
    assert geometry.shapes[0].d.startswith("M2 102")  # the south-west corner is at the bottom left
    far_south = maps.project({"A": [[[(100.0, -60.0), (101.0, -60.0), (101.0, -59.0), (100.0, -60.0)]]]},
                             width=104, pad=2)
    assert far_south.height > 150  # at 60° a degree of longitude is about half as wide


def test_five_classes_from_quantiles_with_a_legend_in_indonesian() -> None:
    values = list(range(101))
    breaks = maps.class_breaks(values)
    assert len(breaks) == 5 and breaks[-1] == 100
    assert maps.colour_for(0, breaks) == maps.NONE_COLOUR
    assert maps.colour_for(1, breaks) == maps.PALETTE[0]
    assert maps.colour_for(100, breaks) == maps.PALETTE[-1]
    legend = maps.legend(breaks)
    assert legend[0].label == "Tidak ada kerja sama"
    assert legend[1].label == "1–20 kerja sama" and legend[-1].label.endswith("100 kerja sama")


def test_few_distinct_values_give_fewer_classes_from_the_dark_end() -> None:
    breaks = maps.class_breaks([0, 3, 3, 3])
    assert breaks == [3.0]
    assert maps.colour_for(3, breaks) == maps.PALETTE[-1]
    assert [i.label for i in maps.legend(breaks)] == ["Tidak ada kerja sama", "1–3 kerja sama"]


def test_the_choropleth_links_each_region_and_names_it_with_its_count() -> None:
    svg, legend = maps.choropleth(
        maps.national(), {"32": 123, "35": 5}, title="Peta", desc="Uraian",
        name=lambda c: {"32": "Jawa Barat"}.get(c, c),
        href=lambda c: f"/?provinsi={c}")
    root = ET.fromstring(str(svg))
    ns = "{http://www.w3.org/2000/svg}"
    links = root.findall(f"{ns}a")
    assert len(links) == 38
    titles = [a.find(f"{ns}path/{ns}title").text for a in links]
    assert "Jawa Barat: 123 kerja sama" in titles
    assert root.find(f"{ns}title").text == "Peta" and root.get("viewBox").startswith("0 0 2000 ")
    assert len(legend) >= 2


def test_a_bar_chart_names_itself_and_escapes_its_labels() -> None:
    chart = charts.bar_chart(
        [charts.Bar("<Jawa Barat>", 1250, "/?provinsi=32", "Rp 1"), charts.Bar("Bali", 5)],
        title="Kerja sama per provinsi", desc="Uraian", svg_id="uji", label_header="Provinsi", note_header="Nilai")
    root = ET.fromstring(str(chart.svg))  # well-formed: the label was escaped
    ns = "{http://www.w3.org/2000/svg}"
    assert root.find(f"{ns}title").text == "Kerja sama per provinsi"
    assert root.find(f"{ns}desc").text == "Uraian"
    assert root.get("aria-labelledby") == "uji-judul uji-uraian"
    assert root.get("role") == "group"  # it holds a link: not an image
    assert root.find(f".//{ns}a").get("href") == "/?provinsi=32"
    widths = [float(r.get("width")) for r in root.iter(f"{ns}rect")]
    assert widths[0] > widths[1] * 100
    assert "<Jawa Barat>" not in str(chart.svg) and "&lt;Jawa Barat&gt;" in str(chart.svg)
    assert chart.headers == ["Provinsi", "Jumlah", "Nilai"]
    assert chart.rows[0] == ["<Jawa Barat>", "1.250", "Rp 1"]


def test_an_empty_chart_says_so() -> None:
    chart = charts.bar_chart([], title="T", desc="D", svg_id="k", label_header="L")
    assert chart.empty and "Belum ada data." in str(chart.svg)
    assert 'role="img"' in str(chart.svg)


def test_stacked_columns_total_each_category_on_a_round_axis() -> None:
    chart = charts.stacked_columns(["2024", "2025"], [("KSDD", [3, 10]), ("KSDPK", [1, 208])], title="Per tahun",
                                   desc="D", svg_id="th", category_header="Tahun")
    ET.fromstring(str(chart.svg))
    assert chart.headers == ["Tahun", "KSDD", "KSDPK", "Jumlah"]
    assert chart.rows == [["2024", "3", "1", "4"], ["2025", "10", "208", "218"]]
    assert ">250</text>" in str(chart.svg)  # 5 steps of 50 reach 218


@pytest.mark.parametrize(("value", "step"), [(0, 1), (3, 1), (7, 2), (218, 50), (1001, 500), (40, 10)])
def test_axis_steps_are_round(value: int, step: int) -> None:
    assert charts.axis_step(value) == step


def _label_texts(svg: str) -> list[ET.Element]:
    ns = "{http://www.w3.org/2000/svg}"
    return [t for t in ET.fromstring(svg).iter(f"{ns}text") if t.get("text-anchor") == "end"]


def test_bar_labels_fit_inside_the_chart_whole_when_they_can() -> None:
    names = ["1.03 Pekerjaan umum dan penataan ruang", "Kesepakatan Bersama ditandatangani", "Bali"]
    chart = charts.bar_chart([charts.Bar(n, v) for n, v in zip(names, (30, 20, 1), strict=True)],
                             title="T", desc="D", svg_id="lebar", label_header="Urusan", max_label_w=320)
    texts = _label_texts(str(chart.svg))
    assert [t.text for t in texts] == names  # none cut: the column is as wide as the longest
    for t in texts:  # each label, right-aligned at x, starts inside the picture
        assert float(t.get("x")) - charts.text_width(t.text, charts.LABEL_SIZE) >= 0
    rect = next(ET.fromstring(str(chart.svg)).iter("{http://www.w3.org/2000/svg}rect"))
    assert float(rect.get("x")) >= charts.text_width(names[0], charts.LABEL_SIZE)  # bars start after the labels


def test_a_too_long_label_ends_with_an_ellipsis_and_keeps_its_whole_name_in_the_title() -> None:
    long = "1.05 Ketenteraman, ketertiban umum dan pelindungan masyarakat di seluruh wilayah provinsi"
    chart = charts.bar_chart([charts.Bar(long, 12_500_000)], title="T", desc="D", svg_id="panjang",
                             label_header="Urusan", max_label_w=200)
    (text,) = _label_texts(str(chart.svg))
    assert text.text.endswith("…") and long.startswith(text.text[:-1])
    assert text.text.startswith("1.05 Ketenteraman")  # cut at the end, never at the start
    assert charts.text_width(text.text, charts.LABEL_SIZE) <= 200
    assert float(text.get("x")) - charts.text_width(text.text, charts.LABEL_SIZE) >= 0
    ns = "{http://www.w3.org/2000/svg}"
    titles = [t.text for t in ET.fromstring(str(chart.svg)).iter(f"{ns}title")]
    assert f"{long}: 12.500.000" in titles
    root = ET.fromstring(str(chart.svg))
    value = next(t for t in root.iter(f"{ns}text") if t.text == "12.500.000")  # the value fits on the right too
    assert float(value.get("x")) + charts.text_width("12.500.000", 12) <= float(root.get("width"))


def test_fit_measures_wide_letters_wider_than_narrow_ones() -> None:
    assert charts.text_width("MMMM", 12) > charts.text_width("iiii", 12)
    assert charts.fit("Bandung", 500, 12) == "Bandung"
    assert charts.fit("Kesepakatan Bersama", 60, 12).endswith("…")
