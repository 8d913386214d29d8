; ctxpack tree-sitter query for Kotlin (tree-sitter-kotlin 1.x node names).
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.
; `class_declaration` covers class / interface / enum class; the keyword and the body kind
; tell them apart, and the patterns below are disjoint.

; ---------------------------------------------------------------- definitions

(class_declaration
  "interface"
  name: (identifier) @name) @definition.interface

(class_declaration
  "class"
  name: (identifier) @name
  (enum_class_body)) @definition.enum

; classes with a body, without one (`class Empty`), and body-less data classes
(class_declaration
  "class"
  name: (identifier) @name
  (class_body)) @definition.class

(class_declaration
  "class"
  name: (identifier) @name .) @definition.class

(class_declaration
  "class"
  name: (identifier) @name
  [(primary_constructor) (delegation_specifiers) (type_parameters) (type_constraints)] .) @definition.class

; `object Registry { ... }`
(object_declaration
  name: (identifier) @name) @definition.class

(type_alias
  type: (identifier) @name) @definition.type

; methods: functions in class / object / companion / enum bodies
(class_body
  (function_declaration
    name: (identifier) @name) @definition.method)

(enum_class_body
  (function_declaration
    name: (identifier) @name) @definition.method)

; top-level functions (including extension functions)
(source_file
  (function_declaration
    name: (identifier) @name) @definition.function)

; top-level `val` / `const val`, and `const val` in objects / companion objects
(source_file
  (property_declaration
    "val"
    (variable_declaration
      (identifier) @name)) @definition.constant)

(class_body
  (property_declaration
    (modifiers
      (property_modifier "const"))
    (variable_declaration
      (identifier) @name)) @definition.constant)

; ----------------------------------------------------------------- references

; calls: foo(), obj.foo(), a?.b.foo(), Foo() (constructor calls look like function calls)
(call_expression
  .
  (identifier) @reference.call)

(call_expression
  .
  (navigation_expression
    (identifier) @reference.call
    .))

; type uses: the last simple name of a user type (`a.b.Foo<T>` gives Foo)
(user_type
  (identifier) @reference.type
  .)

(user_type
  (identifier) @reference.type
  .
  (type_arguments))

; imports: the imported path (`import a.b.C as D` gives a.b.C; `import a.b.*` gives a.b)
(import
  (qualified_identifier) @reference.import)
