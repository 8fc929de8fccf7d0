package main

// The pricing.v1 messages of proto/examples/pricing/v1/pricing.proto, encoded and
// decoded by hand with guest's wire primitives, the way generated code will. Encoding
// writes fields in field-number order and omits proto3 defaults, so the bytes are
// those of protobuf's own serializers. Decoding skips unknown fields (a known field
// number with an unexpected wire type is unknown, as protobuf parsers treat it), lets
// the last occurrence of a field win, and fails on malformed input.

import "bridge.dev/guest"

type quoteRequest struct {
	Sku            string
	Quantity       uint32
	UnitPriceCents int64
	Currency       string
}

type quoteResponse struct {
	Sku           string
	SubtotalCents int64
	DiscountCents int64
	TotalCents    int64
	Currency      string
	Notes         []string
}

type normalizeSkuRequest struct{ Sku string }

type normalizeSkuResponse struct{ Sku string }

type lookupRequest struct{ Sku string }

type lookupResponse struct {
	Sku            string
	Name           string
	UnitPriceCents int64
}

// walk calls field for each field of a message; field returns how many bytes of the
// value it consumed, or -1 to have the field skipped as unknown.
func walk(b []byte, field func(num uint32, wt guest.WireType, v []byte) (int, error)) error {
	for len(b) > 0 {
		num, wt, n, err := guest.ConsumeTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		m, err := field(num, wt, b)
		if err != nil {
			return err
		}
		if m < 0 {
			if m, err = guest.ConsumeFieldValue(b, num, wt); err != nil {
				return err
			}
		}
		b = b[m:]
	}
	return nil
}

func (m *quoteRequest) unmarshal(b []byte) error {
	return walk(b, func(num uint32, wt guest.WireType, v []byte) (n int, err error) {
		switch {
		case num == 1 && wt == guest.WireBytes:
			m.Sku, n, err = guest.ConsumeString(v)
		case num == 2 && wt == guest.WireVarint:
			var x uint64
			x, n, err = guest.ConsumeVarint(v)
			m.Quantity = uint32(x)
		case num == 3 && wt == guest.WireVarint:
			var x uint64
			x, n, err = guest.ConsumeVarint(v)
			m.UnitPriceCents = int64(x)
		case num == 4 && wt == guest.WireBytes:
			m.Currency, n, err = guest.ConsumeString(v)
		default:
			return -1, nil
		}
		return n, err
	})
}

// unmarshalSku decodes the three requests that are a lone `string sku = 1`.
func unmarshalSku(b []byte, sku *string) error {
	return walk(b, func(num uint32, wt guest.WireType, v []byte) (n int, err error) {
		if num == 1 && wt == guest.WireBytes {
			*sku, n, err = guest.ConsumeString(v)
			return n, err
		}
		return -1, nil
	})
}

func (m *normalizeSkuRequest) unmarshal(b []byte) error { return unmarshalSku(b, &m.Sku) }

func (m *lookupRequest) unmarshal(b []byte) error { return unmarshalSku(b, &m.Sku) }

func appendString(b []byte, num uint32, v string) []byte {
	if v == "" {
		return b
	}
	b = guest.AppendTag(b, num, guest.WireBytes)
	return guest.AppendString(b, v)
}

func appendInt64(b []byte, num uint32, v int64) []byte {
	if v == 0 {
		return b
	}
	b = guest.AppendTag(b, num, guest.WireVarint)
	return guest.AppendInt64(b, v)
}

func (m *quoteResponse) marshal(b []byte) []byte {
	b = appendString(b, 1, m.Sku)
	b = appendInt64(b, 2, m.SubtotalCents)
	b = appendInt64(b, 3, m.DiscountCents)
	b = appendInt64(b, 4, m.TotalCents)
	b = appendString(b, 5, m.Currency)
	for _, note := range m.Notes {
		// Repeated strings keep empty elements.
		b = guest.AppendTag(b, 6, guest.WireBytes)
		b = guest.AppendString(b, note)
	}
	return b
}

func (m *normalizeSkuResponse) marshal(b []byte) []byte {
	return appendString(b, 1, m.Sku)
}

func (m *lookupResponse) marshal(b []byte) []byte {
	b = appendString(b, 1, m.Sku)
	b = appendString(b, 2, m.Name)
	return appendInt64(b, 3, m.UnitPriceCents)
}
