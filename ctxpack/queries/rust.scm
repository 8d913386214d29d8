; ctxpack tree-sitter query for Rust.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; methods: fns in impl blocks and in trait bodies (with or without default body)
(impl_item
  body: (declaration_list
    (function_item
      name: (identifier) @name) @definition.method))

(trait_item
  body: (declaration_list
    [(function_item
       name: (identifier) @name)
     (function_signature_item
       name: (identifier) @name)] @definition.method))

; free functions: at crate level, inside `mod x { ... }`, and extern blocks
(source_file
  (function_item
    name: (identifier) @name) @definition.function)

(mod_item
  body: (declaration_list
    (function_item
      name: (identifier) @name) @definition.function))

(foreign_mod_item
  body: (declaration_list
    (function_signature_item
      name: (identifier) @name) @definition.function))

; macro_rules! definitions are listed as functions
(macro_definition
  name: (identifier) @name) @definition.function

(struct_item
  name: (type_identifier) @name) @definition.class

(union_item
  name: (type_identifier) @name) @definition.class

(enum_item
  name: (type_identifier) @name) @definition.enum

(trait_item
  name: (type_identifier) @name) @definition.interface

(type_item
  name: (type_identifier) @name) @definition.type

(const_item
  name: (identifier) @name) @definition.constant

(static_item
  name: (identifier) @name) @definition.constant

(mod_item
  name: (identifier) @name) @definition.module

; ----------------------------------------------------------------- references

; calls: f(), a::b::f(), x.f(), f::<T>(), macros!()
(call_expression
  function: (identifier) @reference.call)

(call_expression
  function: (scoped_identifier
    name: (identifier) @reference.call))

(call_expression
  function: (field_expression
    field: (field_identifier) @reference.call))

(call_expression
  function: (generic_function
    function: [(identifier) @reference.call
               (scoped_identifier
                 name: (identifier) @reference.call)
               (field_expression
                 field: (field_identifier) @reference.call)]))

(macro_invocation
  macro: (identifier) @reference.call)

(macro_invocation
  macro: (scoped_identifier
    name: (identifier) @reference.call))

; `Type::assoc_fn()`: the capitalised path is a type use
(call_expression
  function: (scoped_identifier
    path: (identifier) @reference.type
    (#match? @reference.type "^[A-Z]")))

; type uses (type_identifier outside the name of the item that declares it)
[
  (generic_type type: (type_identifier) @reference.type)
  (type_arguments (type_identifier) @reference.type)
  (scoped_type_identifier name: (type_identifier) @reference.type)
  (reference_type type: (type_identifier) @reference.type)
  (pointer_type type: (type_identifier) @reference.type)
  (array_type element: (type_identifier) @reference.type)
  (tuple_type (type_identifier) @reference.type)
  (impl_item trait: (type_identifier) @reference.type)
  (impl_item type: (type_identifier) @reference.type)
  (trait_bounds (type_identifier) @reference.type)
  (dynamic_type trait: (type_identifier) @reference.type)
  (abstract_type trait: (type_identifier) @reference.type)
  (struct_expression name: (type_identifier) @reference.type)
  (struct_pattern type: (type_identifier) @reference.type)
  (parameter type: (type_identifier) @reference.type)
  (field_declaration type: (type_identifier) @reference.type)
  (ordered_field_declaration_list type: (type_identifier) @reference.type)
  (let_declaration type: (type_identifier) @reference.type)
  (function_item return_type: (type_identifier) @reference.type)
  (function_signature_item return_type: (type_identifier) @reference.type)
  (closure_expression return_type: (type_identifier) @reference.type)
  (function_type return_type: (type_identifier) @reference.type)
  (const_item type: (type_identifier) @reference.type)
  (static_item type: (type_identifier) @reference.type)
  (type_item type: (type_identifier) @reference.type)
  (where_predicate left: (type_identifier) @reference.type)
  (type_binding type: (type_identifier) @reference.type)
  (qualified_type alias: (type_identifier) @reference.type)
  (removed_trait_bound (type_identifier) @reference.type)
  (type_cast_expression type: (type_identifier) @reference.type)
]

; imports: the `use` path (for `use a::{b, c}` the common prefix `a`)
(use_declaration
  argument: [(identifier) (scoped_identifier)] @reference.import)

(use_declaration
  argument: (use_as_clause
    path: (_) @reference.import))

(use_declaration
  argument: (scoped_use_list
    path: (_) @reference.import))

(use_declaration
  argument: (use_wildcard
    (_) @reference.import))

(extern_crate_declaration
  name: (identifier) @reference.import)
