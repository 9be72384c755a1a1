{%- macro exact_sum(value) -%}
    {#- A sum that does not depend on the order rows arrive in (threads, joins): floating
        point addition is not associative, and the same data must give the same analytics. -#}
    arraySum(arraySort(groupArray({{ value }})))
{%- endmacro -%}
