; ctxpack tree-sitter query for PHP (the `php` grammar: HTML + <?php ... ?>).
; Definitions: @definition.<kind> on the definition node plus @name on its name.
; References: @reference.call / @reference.type / @reference.import on the name node.

; ---------------------------------------------------------------- definitions

(namespace_definition
  name: (namespace_name) @name) @definition.module

(class_declaration
  name: (name) @name) @definition.class

(interface_declaration
  name: (name) @name) @definition.interface

; traits are listed as interfaces
(trait_declaration
  name: (name) @name) @definition.interface

(enum_declaration
  name: (name) @name) @definition.enum

; methods of classes, interfaces, traits and enums
(method_declaration
  name: (name) @name) @definition.method

(function_definition
  name: (name) @name) @definition.function

; `const X = 1;` at namespace level and class constants
(const_declaration
  (const_element
    (name) @name)) @definition.constant

; ----------------------------------------------------------------- references

; calls: foo(), \ns\foo(), $obj->foo(), $obj?->foo(), Foo::bar()
(function_call_expression
  function: [(name) @reference.call
             (qualified_name
               (name) @reference.call
               .)])

(member_call_expression
  name: (name) @reference.call)

(nullsafe_member_call_expression
  name: (name) @reference.call)

(scoped_call_expression
  name: (name) @reference.call)

; type uses: declared types, `new X`, extends / implements, trait `use`, static access, catch, instanceof
((named_type
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])
  (#not-match? @reference.type "^(self|static|parent)$"))

(object_creation_expression
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])

(base_clause
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])

(class_interface_clause
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])

(use_declaration
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])

((scoped_call_expression
  scope: [(name) @reference.type
          (qualified_name
            (name) @reference.type
            .)])
  (#not-match? @reference.type "^(self|static|parent)$"))

((class_constant_access_expression
  .
  [(name) @reference.type
   (qualified_name
     (name) @reference.type
     .)])
  (#not-match? @reference.type "^(self|static|parent)$"))

(catch_clause
  type: (type_list
    (named_type
      [(name) @reference.type
       (qualified_name
         (name) @reference.type
         .)])))

; imports: `use A\B\C;`, `use A\B\C as D;`, `use function A\f;`; a group `use A\{B, C}` gives `A`
(namespace_use_declaration
  (namespace_use_clause
    .
    [(qualified_name) (name)] @reference.import))

(namespace_use_declaration
  (namespace_name) @reference.import
  body: (namespace_use_group))

; require / include with a literal path, or `__DIR__ . '/x.php'`: the path without quotes
[
  (require_expression (string (string_content) @reference.import))
  (require_once_expression (string (string_content) @reference.import))
  (include_expression (string (string_content) @reference.import))
  (include_once_expression (string (string_content) @reference.import))
  (require_expression (binary_expression right: (string (string_content) @reference.import)))
  (require_once_expression (binary_expression right: (string (string_content) @reference.import)))
  (include_expression (binary_expression right: (string (string_content) @reference.import)))
  (include_once_expression (binary_expression right: (string (string_content) @reference.import)))
]
