import io

import numpy as np
import pandas as pd
import pytest

from backend.core.errors import InvalidInput
from engines.marketdata.parsing import normalise, read_table
from engines.marketdata.validation import NAT

pytestmark = pytest.mark.timeout(30)


def parse(csv: str, kind: str = "bars", **kw):
    df = read_table(csv.encode(), "csv", "content", 1000)
    opts = dict(mapping={}, symbol="X", venue=None, tz="UTC", ts_format=None, ts_unit="auto", daily=False)
    opts.update(kw)
    return normalise(df, kind, **opts)


def test_normalise_when_columns_have_other_names_then_mapping_and_aliases_find_them():
    p = parse("Date,Open,High,Low,Adj Close,Close,Vol\n2024-01-02,1,2,0.5,1.4,1.5,10\n",
              mapping={"close": "Adj Close"}, daily=True)
    assert p.values["close"][0] == 1.4 and p.values["volume"][0] == 10.0
    assert p.ts_ns[0] == pd.Timestamp("2024-01-02", tz="UTC").value


def test_normalise_when_naive_times_in_new_york_then_converted_to_utc_and_dst_gap_is_nat():
    p = parse("ts,price,size\n2024-07-01 09:30:00,10,1\n2024-03-10 02:30:00,10,1\n", kind="trades",
              tz="America/New_York")
    assert p.ts_ns[0] == pd.Timestamp("2024-07-01 13:30:00", tz="UTC").value  # EDT = UTC-4
    assert p.ts_ns[1] == NAT  # 02:30 does not exist on the spring-forward day


def test_normalise_when_daily_bars_have_times_then_stamped_at_utc_midnight_of_local_date():
    p = parse("ts,open,high,low,close\n2024-01-02T23:30:00-05:00,1,1,1,1\n", tz="UTC", daily=True)
    # 23:30 New York on 2 Jan is 04:30 UTC on 3 Jan; the bar's local date (in tz=UTC) is 3 Jan
    assert p.ts_ns[0] == pd.Timestamp("2024-01-03", tz="UTC").value


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)])
def test_normalise_when_epoch_numbers_then_unit_is_guessed_by_magnitude(unit, scale):
    t = 1_700_000_000
    p = parse(f"ts,price,size\n{t * scale},10,1\n", kind="trades")
    assert p.ts_ns[0] == t * 10**9


def test_normalise_when_values_unparsable_then_nan_and_nat_not_an_error():
    p = parse("ts,open,high,low,close\nnot-a-date,1,1,1,1\n2024-01-02,x,1,1,1\n")
    assert p.ts_ns[0] == NAT and np.isnan(p.values["open"][1])


def test_normalise_when_required_column_missing_then_invalid_input_names_the_field():
    with pytest.raises(InvalidInput) as e:
        parse("ts,open,high,close\n2024-01-02,1,1,1\n")
    assert e.value.field == "columns.low"


def test_normalise_when_mapping_names_absent_column_then_invalid_input():
    with pytest.raises(InvalidInput) as e:
        parse("ts,open,high,low,close\n2024-01-02,1,1,1,1\n", mapping={"close": "Nope"})
    assert e.value.field == "columns.close"


def test_normalise_when_no_symbol_given_and_no_symbol_column_then_invalid_input_on_symbol():
    with pytest.raises(InvalidInput) as e:
        parse("ts,open,high,low,close\n2024-01-02,1,1,1,1\n", symbol=None)
    assert e.value.field == "symbol"


def test_read_table_when_parquet_bytes_then_read_and_when_garbage_then_invalid_input():
    buf = io.BytesIO()
    pd.DataFrame({"ts": ["2024-01-02"], "price": [1.0], "size": [2.0]}).to_parquet(buf)
    assert read_table(buf.getvalue(), None, "content_base64", 10).shape == (1, 3)
    with pytest.raises(InvalidInput) as e:
        read_table(b"PAR1 this is not parquet", None, "content_base64", 10)
    assert e.value.field == "content_base64"


def test_read_table_when_more_rows_than_limit_then_invalid_input():
    with pytest.raises(InvalidInput):
        read_table(b"a\n1\n2\n3\n", "csv", "content", 2)


def test_aggressor_when_labels_vary_then_mapped_to_buy_sell_unknown():
    p = parse("ts,price,size,side\n1,1,1,BUY\n2,1,1,s\n3,1,1,?\n", kind="trades", ts_unit="s")
    assert p.values["aggressor"].tolist() == [1, -1, 0]
