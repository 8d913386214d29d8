; ctxpack tree-sitter query for Go.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; methods: functions with a receiver
(method_declaration
  name: (field_identifier) @name) @definition.method

; methods declared in interfaces
(interface_type
  (method_elem
    name: (field_identifier) @name) @definition.method)

(function_declaration
  name: (identifier) @name) @definition.function

; named types: struct -> class, interface -> interface, anything else -> type
(type_spec
  name: (type_identifier) @name
  type: (struct_type)) @definition.class

(type_spec
  name: (type_identifier) @name
  type: (interface_type)) @definition.interface

(type_spec
  name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (generic_type) (pointer_type) (slice_type)
         (array_type) (map_type) (channel_type) (function_type) (parenthesized_type)
         (negated_type)]) @definition.type

; `type A = B`
(type_alias
  name: (type_identifier) @name) @definition.type

; package-level const and var
(source_file
  (const_declaration
    (const_spec
      name: (identifier) @name) @definition.constant))

(source_file
  (var_declaration
    (var_spec
      name: (identifier) @name) @definition.constant))

(source_file
  (var_declaration
    (var_spec_list
      (var_spec
        name: (identifier) @name) @definition.constant)))

; ----------------------------------------------------------------- references

; calls: f(), pkg.F(), x.y.M(), generic F[T]() / pkg.F[T]()
(call_expression
  function: (identifier) @reference.call)

(call_expression
  function: (selector_expression
    field: (field_identifier) @reference.call))

(call_expression
  function: (index_expression
    operand: (identifier) @reference.call))

(call_expression
  function: (index_expression
    operand: (selector_expression
      field: (field_identifier) @reference.call)))

; type uses (type_identifier outside the name of a type_spec / type_alias)
[
  (parameter_declaration type: (type_identifier) @reference.type)
  (variadic_parameter_declaration type: (type_identifier) @reference.type)
  (field_declaration type: (type_identifier) @reference.type)
  (pointer_type (type_identifier) @reference.type)
  (slice_type element: (type_identifier) @reference.type)
  (array_type element: (type_identifier) @reference.type)
  (map_type key: (type_identifier) @reference.type)
  (map_type value: (type_identifier) @reference.type)
  (channel_type value: (type_identifier) @reference.type)
  (composite_literal type: (type_identifier) @reference.type)
  (qualified_type name: (type_identifier) @reference.type)
  (generic_type type: (type_identifier) @reference.type)
  (type_elem (type_identifier) @reference.type)
  (type_constraint (type_identifier) @reference.type)
  (function_declaration result: (type_identifier) @reference.type)
  (method_declaration result: (type_identifier) @reference.type)
  (method_elem result: (type_identifier) @reference.type)
  (func_literal result: (type_identifier) @reference.type)
  (function_type result: (type_identifier) @reference.type)
  (var_spec type: (type_identifier) @reference.type)
  (const_spec type: (type_identifier) @reference.type)
  (type_spec type: (type_identifier) @reference.type)
  (type_alias type: (type_identifier) @reference.type)
  (type_assertion_expression type: (type_identifier) @reference.type)
  (type_case type: (type_identifier) @reference.type)
  (parenthesized_type (type_identifier) @reference.type)
  (negated_type (type_identifier) @reference.type)
  (type_conversion_expression type: (type_identifier) @reference.type)
]

; imports: the import path without quotes
(import_spec
  path: (interpreted_string_literal
    (interpreted_string_literal_content) @reference.import))

(import_spec
  path: (raw_string_literal
    (raw_string_literal_content) @reference.import))
