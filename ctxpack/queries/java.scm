; ctxpack tree-sitter query for Java.
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

(class_declaration
  name: (identifier) @name) @definition.class

(record_declaration
  name: (identifier) @name) @definition.class

(interface_declaration
  name: (identifier) @name) @definition.interface

(annotation_type_declaration
  name: (identifier) @name) @definition.interface

(enum_declaration
  name: (identifier) @name) @definition.enum

; every Java method lives in a type body; constructors are listed as methods too
(method_declaration
  name: (identifier) @name) @definition.method

(constructor_declaration
  name: (identifier) @name) @definition.method

; `static final` fields (either modifier order) and interface constants
(field_declaration
  (modifiers
    "static"
    "final")
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant

(field_declaration
  (modifiers
    "final"
    "static")
  declarator: (variable_declarator
    name: (identifier) @name)) @definition.constant

(interface_body
  (constant_declaration
    declarator: (variable_declarator
      name: (identifier) @name)) @definition.constant)

; ----------------------------------------------------------------- references

; calls: foo(), obj.foo(), Util.<T>foo(), Foo::bar
(method_invocation
  name: (identifier) @reference.call)

(method_reference
  (identifier) @reference.call .)

; type uses: every type_identifier (declared names are plain identifiers in this grammar);
; covers annotations of fields/params/returns, generics, `new X()`, extends/implements, casts, throws
((type_identifier) @reference.type
  (#not-eq? @reference.type "var"))

; annotations: @Override, @Entity(...)
(marker_annotation
  name: (identifier) @reference.type)

(annotation
  name: (identifier) @reference.type)

; imports: the imported path (package for wildcard imports)
(import_declaration
  [(scoped_identifier) (identifier)] @reference.import)
