; ctxpack tree-sitter query for C.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

; function definitions, returning values or pointers (T f(), T *f(), T **f())
(function_definition
  declarator: (function_declarator
    declarator: (identifier) @name)) @definition.function

(function_definition
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: (identifier) @name))) @definition.function

(function_definition
  declarator: (pointer_declarator
    declarator: (pointer_declarator
      declarator: (function_declarator
        declarator: (identifier) @name)))) @definition.function

; prototypes (mostly in headers)
(declaration
  declarator: (function_declarator
    declarator: (identifier) @name)) @definition.function

(declaration
  declarator: (pointer_declarator
    declarator: (function_declarator
      declarator: (identifier) @name))) @definition.function

; structs and unions with a body are classes, enums with a body are enums
(struct_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.class

(union_specifier
  name: (type_identifier) @name
  body: (field_declaration_list)) @definition.class

(enum_specifier
  name: (type_identifier) @name
  body: (enumerator_list)) @definition.enum

; `typedef struct { ... } Name;` (anonymous struct/union/enum named by the typedef)
(type_definition
  type: [(struct_specifier !name body: (_))
         (union_specifier !name body: (_))]
  declarator: (type_identifier) @name) @definition.class

(type_definition
  type: (enum_specifier !name body: (_))
  declarator: (type_identifier) @name) @definition.enum

; other typedefs. NOTE: `typedef struct X {...} X;` also matches the struct pattern above
; on the same line with the same name; that struct pattern is listed first and wins.
(type_definition
  type: [(primitive_type) (sized_type_specifier) (type_identifier)
         (struct_specifier name: (_)) (union_specifier name: (_)) (enum_specifier name: (_))]
  declarator: [(type_identifier) @name
               (pointer_declarator
                 declarator: (type_identifier) @name)
               (array_declarator
                 declarator: (type_identifier) @name)]) @definition.type

; function-pointer typedefs: typedef int (*cb_t)(int);
(type_definition
  declarator: (function_declarator
    declarator: (parenthesized_declarator
      (pointer_declarator
        declarator: (type_identifier) @name)))) @definition.type

; macros: object-like #define -> constant, function-like #define -> function
(preproc_def
  name: (identifier) @name) @definition.constant

(preproc_function_def
  name: (identifier) @name) @definition.function

; file-scope `const` variables
(translation_unit
  (declaration
    (type_qualifier "const")
    declarator: (init_declarator
      declarator: (identifier) @name)) @definition.constant)

; ----------------------------------------------------------------- references

(call_expression
  function: (identifier) @reference.call)

(call_expression
  function: (field_expression
    field: (field_identifier) @reference.call))

; type uses: typedef names where a type is expected, `struct X` without a body
[
  (declaration type: (type_identifier) @reference.type)
  (parameter_declaration type: (type_identifier) @reference.type)
  (field_declaration type: (type_identifier) @reference.type)
  (function_definition type: (type_identifier) @reference.type)
  (type_descriptor type: (type_identifier) @reference.type)
  (type_definition type: (type_identifier) @reference.type)
  (struct_specifier name: (type_identifier) @reference.type !body)
  (union_specifier name: (type_identifier) @reference.type !body)
  (enum_specifier name: (type_identifier) @reference.type !body)
]

; includes: "local.h" without quotes; <system.h> keeps its angle brackets (no inner node)
(preproc_include
  path: (string_literal
    (string_content) @reference.import))

(preproc_include
  path: (system_lib_string) @reference.import)
