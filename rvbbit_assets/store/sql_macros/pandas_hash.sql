{#- pandas' hash_pandas_object (pandas.core.util.hashing) in SQL, where Python code samples
    by it: the same 64-bit values, so a sample drawn in the store is the one pandas would
    draw. Each macro is one expression; `name` prefixes its steps' aliases. -#}
{%- macro pandas_mixer(value, name) -%}
    {#- The 64-bit mixer pandas applies to every element's raw hash. -#}
    bitXor(
        (bitXor(
            (bitXor(({{ value }}) AS {{ name }}_raw, bitShiftRight({{ name }}_raw, 30))
                * 0xBF58476D1CE4E5B9) AS {{ name }}_1,
            bitShiftRight({{ name }}_1, 27)) * 0x94D049BB133111EB) AS {{ name }}_2,
        bitShiftRight({{ name }}_2, 31))
{%- endmacro -%}
{%- macro pandas_text_hash(text, name) -%}
    {#- A text's hash: SipHash-2-4 of its UTF-8 under pandas' default key, mixed. -#}
    {{ pandas_mixer("sipHash64Keyed((3978425819141910832, 3906085646303836472), "
                    ~ text ~ ")", name) }}
{%- endmacro -%}
{%- macro pandas_float_hash(number, name) -%}
    {#- A float's hash: of its bits, with -0.0 as 0 and every NaN as one NaN, mixed. -#}
    {{ pandas_mixer("multiIf(isNaN(" ~ number ~ "), toUInt64(0x7FF8000000000000), "
                    ~ number ~ " = 0, toUInt64(0), reinterpretAsUInt64(toFloat64("
                    ~ number ~ ")))", name) }}
{%- endmacro -%}
