from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class LineTotalRequest(_message.Message):
    __slots__ = ("unit_price_cents", "quantity", "discount_percent")
    UNIT_PRICE_CENTS_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    unit_price_cents: int
    quantity: int
    discount_percent: int
    def __init__(self, unit_price_cents: _Optional[int] = ..., quantity: _Optional[int] = ..., discount_percent: _Optional[int] = ...) -> None: ...

class LineTotalResponse(_message.Message):
    __slots__ = ("total_cents",)
    TOTAL_CENTS_FIELD_NUMBER: _ClassVar[int]
    total_cents: int
    def __init__(self, total_cents: _Optional[int] = ...) -> None: ...

class VatRequest(_message.Message):
    __slots__ = ("net_cents", "rate_permille")
    NET_CENTS_FIELD_NUMBER: _ClassVar[int]
    RATE_PERMILLE_FIELD_NUMBER: _ClassVar[int]
    net_cents: int
    rate_permille: int
    def __init__(self, net_cents: _Optional[int] = ..., rate_permille: _Optional[int] = ...) -> None: ...

class VatResponse(_message.Message):
    __slots__ = ("vat_cents",)
    VAT_CENTS_FIELD_NUMBER: _ClassVar[int]
    vat_cents: int
    def __init__(self, vat_cents: _Optional[int] = ...) -> None: ...

class ReorderQuantityRequest(_message.Message):
    __slots__ = ("on_hand", "reserved", "daily_demand", "lead_time_days", "safety_days", "pack_size")
    ON_HAND_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    DAILY_DEMAND_FIELD_NUMBER: _ClassVar[int]
    LEAD_TIME_DAYS_FIELD_NUMBER: _ClassVar[int]
    SAFETY_DAYS_FIELD_NUMBER: _ClassVar[int]
    PACK_SIZE_FIELD_NUMBER: _ClassVar[int]
    on_hand: int
    reserved: int
    daily_demand: int
    lead_time_days: int
    safety_days: int
    pack_size: int
    def __init__(self, on_hand: _Optional[int] = ..., reserved: _Optional[int] = ..., daily_demand: _Optional[int] = ..., lead_time_days: _Optional[int] = ..., safety_days: _Optional[int] = ..., pack_size: _Optional[int] = ...) -> None: ...

class ReorderQuantityResponse(_message.Message):
    __slots__ = ("quantity", "reorder_point")
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    REORDER_POINT_FIELD_NUMBER: _ClassVar[int]
    quantity: int
    reorder_point: int
    def __init__(self, quantity: _Optional[int] = ..., reorder_point: _Optional[int] = ...) -> None: ...
